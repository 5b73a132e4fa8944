"""Safe, bounded access to the archives inside uploaded distribution files.

Wheels are ZIP archives: they are checked as a whole (structure, member names,
declared sizes, compression ratios) before any member is read, and members are
then read through a bounded loop. Sdists are gzip-compressed tar archives: they
are streamed once, never decompressing more than the limits allow, and every
member is checked on the way.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, NoReturn

from stockade.dists.errors import DistError
from stockade.dists.zipcheck import (
    check_local_headers,
    check_member_data,
    read_end_of_central_directory,
    zip_error,
)

__all__ = ["DEFAULT_LIMITS", "ArchiveLimits", "SdistContents", "WheelArchive", "scan_sdist"]

_CHUNK = 64 * 1024
_TOP_LEVEL_ERROR = "Invalid distribution file. Incorrect number of top-level directories in sdist"
_DRIVE_RE = re.compile(r"[A-Za-z]:")
# Errors the stdlib archive readers raise on malformed input.
_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    UnicodeError,
    NotImplementedError,
    OverflowError,
    IndexError,
    KeyError,
)


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what inspecting an archive may cost."""

    # Uncompressed bytes of any one member we read: the metadata files (METADATA, WHEEL,
    # PKG-INFO) and tar headers. Their text is stored and its description rendered on the
    # project page, so this bounds both; real ones are kilobytes, a long changelog a megabyte.
    max_member_size: int = 8 * 1024**2
    max_total_uncompressed: int = 4 * 1024**3  # sum of declared sizes (zip) / bytes streamed (tar)
    max_ratio: int = 200  # compression ratio bound per member (zip bomb)
    max_members: int = 100_000
    # The ratio bound applies to members larger than this: small, very regular
    # files (a few kB of blanks) legitimately compress beyond any sane ratio.
    ratio_min_size: int = 1024**2


DEFAULT_LIMITS = ArchiveLimits()


def unsafe_member_name(name: str) -> str | None:
    """Return why an archive member name is unsafe to extract, or ``None`` if it is fine."""
    if not name:
        return "empty member name"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return f"invalid character in member name {name!r}"
    if "\\" in name:
        return f"backslash in member name {name!r}"
    if name.startswith("/") or _DRIVE_RE.match(name):
        return f"absolute member name {name!r}"
    if ".." in name.split("/"):
        return f"parent directory reference in member name {name!r}"
    return None


def _unreadable(what: str, exc: BaseException) -> NoReturn:
    detail = str(exc) or type(exc).__name__
    raise DistError(f"Invalid distribution file. {what}: {detail}") from exc


class WheelArchive:
    """A validated wheel (ZIP) archive; use as a context manager."""

    def __init__(self, path: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
        """Open and validate the archive at *path*; raises :class:`DistError`."""
        self._limits = limits
        self._fp: BinaryIO = path.open("rb")
        try:
            self._zip = self._open()
            self._members = {info.orig_filename: info for info in self._zip.infolist()}
        except BaseException:
            self._fp.close()
            raise

    def _open(self) -> zipfile.ZipFile:
        limits = self._limits
        size = os.fstat(self._fp.fileno()).st_size
        eocd = read_end_of_central_directory(self._fp, size)
        if eocd.records > limits.max_members:
            raise zip_error(f"Too many members ({eocd.records}, limit {limits.max_members})")
        try:
            self._fp.seek(0)
            archive = zipfile.ZipFile(self._fp)
        except _READ_ERRORS as exc:
            _unreadable("File is not a valid zipfile", exc)
        if archive.start_dir != eocd.cd_offset:
            raise zip_error("Unexpected data before the first entry")
        infos = archive.infolist()
        data_offsets = check_local_headers(self._fp, infos, eocd)
        seen: set[str] = set()
        total = 0
        for info in infos:
            name = info.orig_filename
            if reason := unsafe_member_name(name):
                raise zip_error(reason[0].upper() + reason[1:])
            if name in seen:
                raise zip_error("Duplicate filename in central directory")
            seen.add(name)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise DistError(
                    "Invalid distribution file. File does not use a supported compression type"
                )
            total += info.file_size
            if info.file_size > limits.ratio_min_size and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                raise DistError(
                    f"Invalid distribution file. Member {name!r} exceeds the compression "
                    f"ratio of {limits.max_ratio}"
                )
        if total > limits.max_total_uncompressed:
            raise DistError(
                f"Invalid distribution file. Uncompressed size ({total} bytes) exceeds the "
                f"limit of {limits.max_total_uncompressed} bytes"
            )
        # The sizes above are declared ones: now make sure each member really is that size
        # (and its CRC-32 right), streaming, so the limits hold for what the bytes inflate to.
        for info in infos:
            check_member_data(self._fp, info, data_offsets[info.header_offset])
        return archive

    def __enter__(self) -> WheelArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive and the underlying file."""
        self._zip.close()
        self._fp.close()

    @property
    def names(self) -> list[str]:
        """Member names, in central directory order."""
        return list(self._members)

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def read(self, name: str) -> bytes:
        """Read one member, never holding more than ``max_member_size`` bytes."""
        info = self._members[name]
        limit = min(info.file_size, self._limits.max_member_size)
        if info.file_size > self._limits.max_member_size:
            raise DistError(
                f"Invalid distribution file. Member {name!r} is too large ({info.file_size} "
                f"bytes, limit {self._limits.max_member_size})"
            )
        chunks: list[bytes] = []
        total = 0
        try:
            with self._zip.open(info) as member:
                while chunk := member.read(_CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise DistError(
                            f"Invalid distribution file. Member {name!r} is larger than "
                            "its declared size"
                        )
                    chunks.append(chunk)
        except DistError:
            raise
        except _READ_ERRORS as exc:
            _unreadable(f"Cannot read {name!r}", exc)
        if total != info.file_size:
            raise DistError(
                f"Invalid distribution file. Member {name!r} is smaller than its declared size"
            )
        return b"".join(chunks)


@dataclass(frozen=True)
class SdistContents:
    """What streaming an sdist found."""

    top_level: str
    names: frozenset[str]  # normalized member names ('./' and trailing '/' removed)
    pkg_info: bytes | None  # exact bytes of <top_level>/PKG-INFO


class _BoundedReader:
    """A forward-only reader that refuses to yield more than *limit* bytes."""

    def __init__(self, source: gzip.GzipFile, limit: int) -> None:
        self._source = source
        self._limit = limit
        self._total = 0

    def read(self, size: int = -1, /) -> bytes:
        if size < 0 or size > _CHUNK:
            size = _CHUNK  # tarfile's stream reader loops until it has what it asked for
        data = self._source.read(size)
        self._total += len(data)
        if self._total > self._limit:
            raise DistError(
                "Invalid distribution file. Decompressed size exceeds the limit of "
                f"{self._limit} bytes"
            )
        return data

    def write(self, b: bytes, /) -> int:
        raise OSError("read-only")

    def tell(self) -> int:
        return self._total

    def seek(self, pos: int, /) -> int:
        raise OSError("not seekable")

    def close(self) -> None:
        self._source.close()


def _bounded_tarinfo(max_header_size: int) -> type[tarfile.TarInfo]:
    # Extended headers (pax, GNU long names) are read into memory whole.
    extended = (
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    )

    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
            if self.type in extended and self.size > max_header_size:
                raise DistError(
                    "Invalid distribution file. Extended tar header is too large "
                    f"({self.size} bytes)"
                )
            proc = getattr(super(), "_proc_member")  # noqa: B009 - private hook, not in stubs
            result: tarfile.TarInfo = proc(tar)
            return result

    return BoundedTarInfo


def _tar_parts(name: str) -> list[str]:
    return [part for part in name.split("/") if part not in ("", ".")]


def _check_tar_member(member: tarfile.TarInfo, parts: list[str]) -> None:
    name = member.name
    if reason := unsafe_member_name(name):
        raise DistError(f"Invalid distribution file. Tar archive not accepted: {reason}")
    if member.issym() or member.islnk():
        link = member.linkname
        if member.issym():  # relative to the link's directory
            target = posixpath.join(posixpath.dirname("/".join(parts)), link)
        else:  # hard links name another member of the archive
            target = link
        target_parts = _tar_parts(posixpath.normpath(target))
        # '..' is fine in a link as long as the resolved target stays inside.
        unsafe = unsafe_member_name(link.replace("..", "_"))
        if unsafe is not None or not target_parts or target_parts[0] != parts[0]:
            raise DistError(
                f"Invalid distribution file. Tar archive not accepted: link {name!r} "
                f"points outside the archive ({link!r})"
            )
    elif not (member.isfile() or member.isdir()):
        raise DistError(
            f"Invalid distribution file. Tar archive not accepted: {name!r} is not a regular "
            "file, directory or link"
        )


def _read_tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo, limits: ArchiveLimits) -> bytes:
    if member.size > limits.max_member_size:
        raise DistError(
            f"Invalid distribution file. Member {member.name!r} is too large ({member.size} "
            f"bytes, limit {limits.max_member_size})"
        )
    handle = tar.extractfile(member)
    if handle is None:  # pragma: no cover - only regular files get here
        raise DistError(f"Invalid distribution file. Cannot read {member.name!r}")
    chunks: list[bytes] = []
    total = 0
    while chunk := handle.read(_CHUNK):
        total += len(chunk)
        if total > member.size:  # pragma: no cover - tarfile stops at the declared size
            raise DistError(f"Invalid distribution file. Member {member.name!r} is too large")
        chunks.append(chunk)
    return b"".join(chunks)


def scan_sdist(path: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> SdistContents:
    """Stream a ``.tar.gz`` sdist once, checking every member; raises :class:`DistError`.

    All members must sit in a single top-level directory; the PKG-INFO returned
    is the one directly inside it.
    """
    with path.open("rb") as raw:
        if raw.read(2) != b"\x1f\x8b":
            raise DistError("Invalid distribution file. File is not a gzip-compressed tarfile")
        raw.seek(0)
        try:
            return _scan_tar(raw, limits)
        except DistError:
            raise
        except _READ_ERRORS as exc:
            _unreadable("File is not a valid tar.gz archive", exc)


def _scan_tar(raw: BinaryIO, limits: ArchiveLimits) -> SdistContents:
    reader = _BoundedReader(gzip.GzipFile(fileobj=raw, mode="rb"), limits.max_total_uncompressed)
    names: set[str] = set()
    top_levels: set[str] = set()
    pkg_info: bytes | None = None
    count = 0
    with tarfile.open(
        fileobj=reader,
        mode="r|",
        tarinfo=_bounded_tarinfo(limits.max_member_size),
        encoding="utf-8",
        errors="surrogateescape",
    ) as tar:
        for member in tar:
            count += 1
            if count > limits.max_members:
                raise DistError(
                    f"Invalid distribution file. Too many members (limit {limits.max_members})"
                )
            parts = _tar_parts(member.name)
            if not parts:  # the archive root itself ('.' or './')
                if member.isdir():
                    continue
                raise DistError(f"Invalid distribution file. Invalid member {member.name!r}")
            _check_tar_member(member, parts)
            key = "/".join(parts)
            if key in names and not member.isdir():
                raise DistError(f"Invalid distribution file. Duplicate member {member.name!r}")
            names.add(key)
            top_levels.add(parts[0])
            if len(parts) == 1 and not member.isdir():
                raise DistError(_TOP_LEVEL_ERROR)
            if len(parts) == 2 and parts[1] == "PKG-INFO":
                if not member.isfile():
                    raise DistError(
                        f"Invalid distribution file. {member.name!r} is not a regular file"
                    )
                pkg_info = _read_tar_member(tar, member, limits)
        # tarfile ends iteration quietly at the first invalid or zero header; other
        # tools may read on. Only zero padding may follow (this also checks the CRC).
        while chunk := tar.fileobj.read(_CHUNK):
            if chunk.strip(b"\0"):
                raise DistError(
                    "Invalid distribution file. Tar archive not accepted: invalid header or "
                    "data after the end of the archive"
                )
    if len(top_levels) != 1:
        raise DistError(_TOP_LEVEL_ERROR)
    return SdistContents(top_level=top_levels.pop(), names=frozenset(names), pkg_info=pkg_info)
