"""Small, valid (or deliberately broken) wheels and sdists made on the fly."""

from __future__ import annotations

import io
import random
import tarfile
import zipfile

from packaging.utils import canonicalize_name


def metadata_text(
    name: str,
    version: str,
    *,
    summary: str = "A test package",
    extra: str = "",
    metadata_version: str = "2.1",
) -> str:
    return (
        f"Metadata-Version: {metadata_version}\nName: {name}\nVersion: {version}\n"
        f"Summary: {summary}\n{extra}"
    )


def wheel_bytes(
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    metadata: str | None = None,
    files: dict[str, bytes] | None = None,
    dist_info_name: str | None = None,
) -> bytes:
    dist = dist_info_name or f"{canonicalize_name(name).replace('-', '_')}-{version}.dist-info"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        pkg = canonicalize_name(name).replace("-", "_")
        zf.writestr(f"{pkg}/__init__.py", f"__version__ = {version!r}\n")
        for path, data in (files or {}).items():
            zf.writestr(path, data)
        zf.writestr(f"{dist}/METADATA", metadata or metadata_text(name, version))
        zf.writestr(
            f"{dist}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: stockade-tests\nRoot-Is-Purelib: true\nTag: {tag}\n",
        )
        zf.writestr(f"{dist}/RECORD", "")
    return buf.getvalue()


def wheel_name(name: str, version: str, tag: str = "py3-none-any") -> str:
    return f"{canonicalize_name(name).replace('-', '_')}-{version}-{tag}.whl"


def sdist_bytes(
    name: str, version: str, *, pkg_info: str | None = None, top: str | None = None
) -> bytes:
    top = top or f"{canonicalize_name(name).replace('-', '_')}-{version}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path, data in (
            (f"{top}/PKG-INFO", (pkg_info or metadata_text(name, version)).encode()),
            (f"{top}/setup.py", b"from setuptools import setup\nsetup()\n"),
        ):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sdist_name(name: str, version: str) -> str:
    return f"{canonicalize_name(name).replace('-', '_')}-{version}.tar.gz"


def readme_text(size: int, rst: bool) -> str:
    """About ``size`` characters of README, reStructuredText or Markdown, the same for a size."""
    rnd = random.Random(size)
    words = ["alpha", "beta", "*emph*", "``code``" if rst else "`code`", "gamma", "delta"]
    paragraphs = []
    total = 0
    while total < size:
        paragraph = " ".join(rnd.choice(words) for _ in range(80))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return ("Title\n=====\n\n" if rst else "# Title\n\n") + "\n\n".join(paragraphs)
