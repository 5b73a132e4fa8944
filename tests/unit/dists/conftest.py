"""Builders for crafted distribution files used by the stockade.dists tests."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stockade.dists import DistError
from support.backend import CORPUS

CORPUS_DISTS = CORPUS / "dists"
CORPUS_MANIFEST = CORPUS / "MANIFEST.tsv"

# The ``write`` fixture: (filename, bytes) -> the path of a fresh file holding them.
Write = Callable[[str, bytes], Path]

WHEEL_FILE = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def metadata_text(
    name: str = "demo",
    version: str = "1.0",
    metadata_version: str = "2.1",
    extra: Iterable[str] = (),
    body: str | None = "A demo project.\n",
    summary: str | None = "A demo",
) -> bytes:
    """Core metadata in email format."""
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    if summary is not None:
        lines.append(f"Summary: {summary}")
    lines += extra
    text = "\n".join(lines) + "\n"
    if body is not None:
        text += "\n" + body
    return text.encode("utf-8")


def wheel_bytes(
    members: dict[str, bytes] | None = None,
    *,
    name: str = "demo",
    version: str = "1.0",
    metadata: bytes | None = None,
    wheel: bytes | None = WHEEL_FILE,
    dist_info: str | None = None,
    with_metadata: bool = True,
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """A wheel (zip) built with zipfile; *members* are added after the defaults."""
    dist_info = dist_info or f"{name}-{version}.dist-info"
    contents: dict[str, bytes] = {f"{name}/__init__.py": b"x = 1\n"}
    if with_metadata:
        contents[f"{dist_info}/METADATA"] = (
            metadata if metadata is not None else metadata_text(name, version)
        )
    if wheel is not None:
        contents[f"{dist_info}/WHEEL"] = wheel
    contents.update(members or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for member, data in contents.items():
            archive.writestr(member, data)
    return buffer.getvalue()


@dataclass
class TarMember:
    """One member of a crafted tar archive."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def tar_gz_bytes(
    members: Iterable[TarMember | tuple[str, bytes]], *, fmt: int = tarfile.PAX_FORMAT
) -> bytes:
    """A gzip-compressed tar archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=fmt) as archive:
        for item in members:
            member = TarMember(*item) if isinstance(item, tuple) else item
            info = tarfile.TarInfo(member.name)
            info.type = member.type
            info.linkname = member.linkname
            info.pax_headers = dict(member.extra)
            if member.type == tarfile.DIRTYPE:
                info.mode = 0o755
                archive.addfile(info)
            elif member.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(member.data)
                archive.addfile(info, io.BytesIO(member.data))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def sdist_bytes(
    name: str = "demo",
    version: str = "1.0",
    *,
    pkg_info: bytes | None = None,
    extra: Iterable[TarMember | tuple[str, bytes]] = (),
    top: str | None = None,
) -> bytes:
    """A minimal, valid sdist plus *extra* members."""
    top = top or f"{name}-{version}"
    members: list[TarMember | tuple[str, bytes]] = [
        TarMember(top, type=tarfile.DIRTYPE),
        (f"{top}/PKG-INFO", pkg_info if pkg_info is not None else metadata_text(name, version)),
        (f"{top}/setup.py", b"from setuptools import setup\nsetup()\n"),
    ]
    members.extend(extra)
    return tar_gz_bytes(members)


@dataclass
class RawEntry:
    """A stored (uncompressed) entry of a hand-assembled zip."""

    name: str
    data: bytes
    flags: int = 0
    local_size: int | None = None  # override the local header's sizes


def raw_zip(
    entries: list[RawEntry],
    *,
    central: list[tuple[str, int]] | None = None,
    prefix: bytes = b"",
    suffix: bytes = b"",
    comment: bytes = b"",
    offset_shift: int = 0,
) -> bytes:
    """Assemble a zip by hand so the tests can break its structure.

    *central* lists (name, index of the local entry it points at); by default each
    local entry gets its own central directory record.
    """
    out = bytearray(prefix)
    offsets: list[int] = []
    for entry in entries:
        offsets.append(len(out) - len(prefix) + offset_shift)
        size = entry.local_size if entry.local_size is not None else len(entry.data)
        name = entry.name.encode()
        crc = zlib.crc32(entry.data)
        out += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, entry.flags, 0, 0, 0x21, crc, size, size, len(name), 0
        )
        out += name + entry.data
    cd_start = len(out) - len(prefix) + offset_shift
    records = central if central is not None else [(e.name, i) for i, e in enumerate(entries)]
    cd = bytearray()
    for name_text, index in records:
        entry = entries[index]
        name = name_text.encode()
        crc = zlib.crc32(entry.data)
        size = len(entry.data)
        cd += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            entry.flags,
            0,
            0,
            0x21,
            crc,
            size,
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offsets[index],
        )
        cd += name
    out += cd
    out += struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(records), len(records), len(cd), cd_start, len(comment)
    )
    out += comment + suffix
    return bytes(out)


def raw_wheel_entries(name: str = "demo", version: str = "1.0") -> list[RawEntry]:
    """The minimal members of a valid wheel, as raw zip entries."""
    dist_info = f"{name}-{version}.dist-info"
    return [
        RawEntry(f"{name}/__init__.py", b"x = 1\n"),
        RawEntry(f"{dist_info}/METADATA", metadata_text(name, version)),
        RawEntry(f"{dist_info}/WHEEL", WHEEL_FILE),
    ]


def expect_dist_error(call: Callable[[], object], *fragments: str) -> DistError:
    """Run *call*, require a one-line DistError containing every fragment."""
    with pytest.raises(DistError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    assert "\r" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return info.value


class Kit:
    """The builders above, handed to tests through the ``kit`` fixture."""

    corpus_dists = CORPUS_DISTS
    corpus_manifest = CORPUS_MANIFEST
    wheel_file = WHEEL_FILE
    metadata_text = staticmethod(metadata_text)
    wheel_bytes = staticmethod(wheel_bytes)
    tar_gz_bytes = staticmethod(tar_gz_bytes)
    sdist_bytes = staticmethod(sdist_bytes)
    raw_zip = staticmethod(raw_zip)
    raw_wheel_entries = staticmethod(raw_wheel_entries)
    expect_dist_error = staticmethod(expect_dist_error)
    RawEntry = RawEntry
    TarMember = TarMember


@pytest.fixture
def kit() -> type[Kit]:
    """Builders for crafted distribution files."""
    return Kit


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write bytes to a fresh file in tmp_path and return its path."""

    def _write(filename: str, data: bytes) -> Path:
        directory = tmp_path / f"upload-{len(list(tmp_path.iterdir()))}"
        directory.mkdir()
        path = directory / filename
        path.write_bytes(data)
        return path

    return _write
