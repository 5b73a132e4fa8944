"""Where advisories come from: folders, zips, single OSV JSON or YAML files, and URLs of any
of them (the OSV export of the PyPI ecosystem is one zip). Every document and download is
bounded: an advisory is a few kilobytes, not a zip bomb."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_DOCUMENT",
    "MAX_DOWNLOAD",
    "Document",
    "SourceError",
    "download",
    "open_sources",
]

# One advisory document (the largest real ones list thousands of versions: well under this).
MAX_DOCUMENT = 4 * 1024 * 1024
MAX_MEMBERS = 500_000
# One downloaded file (the OSV PyPI export is tens of megabytes).
MAX_DOWNLOAD = 1024 * 1024 * 1024
_SUFFIXES = (".json", ".yaml", ".yml")


class SourceError(ValueError):
    """A source that cannot be read; the text says which and why."""


@dataclass(frozen=True)
class Document:
    """One advisory document to read: where it is (for messages) and how to read its bytes."""

    label: str
    read: Callable[[], bytes]


def _is_advisory(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.lower().endswith(_SUFFIXES) and not base.startswith(".")


def _file(path: Path) -> Document:
    def read() -> bytes:
        if path.stat().st_size > MAX_DOCUMENT:
            raise SourceError(f"larger than {MAX_DOCUMENT // 1024 // 1024} MiB")
        return path.read_bytes()

    return Document(str(path), read)


def _folder(path: Path) -> list[Path]:
    """The advisory files under a folder, hidden folders (a clone's ``.git``, ``.github``)
    left out."""
    found = []
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(root) / name for name in names if _is_advisory(name)]
    return sorted(found)


def _zip_documents(path: Path, archive: zipfile.ZipFile, label: str) -> list[Document]:
    infos = [i for i in archive.infolist() if not i.is_dir() and _is_advisory(i.filename)]
    if len(infos) > MAX_MEMBERS:
        raise SourceError(f"{label}: more than {MAX_MEMBERS} advisories in one zip")

    def reader(info: zipfile.ZipInfo) -> Callable[[], bytes]:
        def read() -> bytes:
            if info.file_size > MAX_DOCUMENT:
                raise SourceError(f"larger than {MAX_DOCUMENT // 1024 // 1024} MiB")
            with archive.open(info) as member:
                # The header's size is the zip's claim; the bound holds whatever it says.
                data = member.read(MAX_DOCUMENT + 1)
            if len(data) > MAX_DOCUMENT:
                raise SourceError(f"larger than {MAX_DOCUMENT // 1024 // 1024} MiB")
            return data

        return read

    return [Document(f"{label}:{info.filename}", reader(info)) for info in infos]


def download(url: str, dest: Path, *, timeout: float = 60.0) -> None:
    """Fetch ``url`` into ``dest``, refusing more than MAX_DOWNLOAD bytes."""
    import httpx  # only the scheduled job and `import URL` download

    size = 0
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise SourceError(f"{url}: HTTP {response.status_code}")
            with dest.open("wb") as out:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_DOWNLOAD:
                        raise SourceError(f"{url}: larger than {MAX_DOWNLOAD // 1024**2} MiB")
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise SourceError(f"{url}: {exc}") from exc


@contextmanager
def open_sources(paths: list[str]) -> Iterator[list[Document]]:
    """Every advisory document of the given folders, zips, files and URLs, in a stable order.

    Folders are searched recursively for ``.json``, ``.yaml`` and ``.yml`` files (not in
    hidden folders); a URL is
    downloaded to a temporary file first. Raises SourceError for a source that is missing or
    not a zip, folder or advisory file.
    """
    with ExitStack() as stack:
        documents: list[Document] = []
        for source in paths:
            path = Path(source)
            label = source
            if source.startswith(("http://", "https://")):
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="advisories-")))
                path = tmp / "download"
                download(source, path)
            elif not path.exists():
                raise SourceError(f"{source}: no such file or folder")
            if path.is_dir():
                documents.extend(_file(p) for p in _folder(path))
            elif zipfile.is_zipfile(path):
                archive = stack.enter_context(zipfile.ZipFile(path))
                documents.extend(_zip_documents(path, archive, label))
            elif path.is_file() and (_is_advisory(path.name) or label != str(path)):
                doc = _file(path)
                documents.append(Document(label if label != str(path) else doc.label, doc.read))
            else:
                raise SourceError(
                    f"{source}: not a folder, a zip, or an OSV .json / .yaml advisory"
                )
        yield documents
