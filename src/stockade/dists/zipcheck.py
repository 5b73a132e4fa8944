"""Structural checks on ZIP archives, against parser differentials.

A ZIP file can be read two ways: from the central directory at its end (what
:mod:`zipfile` and pip do) or by streaming the local file headers from the
start. A crafted archive can show different files to each reader (prepended
data, overlapping or duplicated entries, a second archive hidden in a comment,
...). These checks accept only archives where both readings agree, following
the rules PyPI applies (Warehouse ``utils/zipfiles.py``, APPNOTE.TXT). The code
here is our own.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from stockade.dists.errors import DistError

__all__ = [
    "EndOfCentralDirectory",
    "check_local_headers",
    "check_member_data",
    "read_end_of_central_directory",
]

_EOCD = struct.Struct("<4s4H2LH")  # signature .. comment length: 22 bytes
_EOCD_SIG = b"PK\x05\x06"
_EOCD64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes
_EOCD64_LOCATOR_SIG = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # 56 bytes
_EOCD64_SIG = b"PK\x06\x06"
_LOCAL = struct.Struct("<4s5H3L2H")  # 30 bytes
_LOCAL_SIG = b"PK\x03\x04"
_MAX_COMMENT = 0xFFFF
_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF

_FLAG_ENCRYPTED = 0x0001
_FLAG_DATA_DESCRIPTOR = 0x0008
_FLAG_UTF8 = 0x0800
_EXTRA_ZIP64 = 0x0001
_EXTRA_UNICODE_PATH = 0x7075


def zip_error(reason: str) -> DistError:
    """Build the error PyPI returns for a ZIP archive it does not accept."""
    return DistError(
        f"Invalid distribution file. ZIP archive not accepted: {reason}. "
        "See https://docs.pypi.org/archives for more information"
    )


@dataclass(frozen=True)
class EndOfCentralDirectory:
    """Where the central directory is, per the end record(s)."""

    records: int
    cd_offset: int
    cd_size: int
    cd_end: int  # where the central directory must end (start of the EOCD64 or EOCD)


def _read_at(fp: BinaryIO, offset: int, size: int) -> bytes:
    fp.seek(offset)
    data = fp.read(size)
    if len(data) != size:
        raise zip_error("Malformed zip file")
    return data


def read_end_of_central_directory(fp: BinaryIO, file_size: int) -> EndOfCentralDirectory:
    """Find and check the end of central directory record (and its ZIP64 form).

    The record must be the last thing in the file, up to its own comment: any
    trailing data (e.g. a second archive appended) is refused.
    """
    if file_size < _EOCD.size:
        raise DistError("Invalid distribution file. File is not a zipfile")
    tail_size = min(file_size, _EOCD.size + _MAX_COMMENT)
    tail_start = file_size - tail_size
    tail = _read_at(fp, tail_start, tail_size)
    pos = tail.rfind(_EOCD_SIG)
    if pos < 0 or pos + _EOCD.size > len(tail):
        raise DistError("Invalid distribution file. File is not a zipfile")
    (_sig, disk, cd_disk, disk_records, records, cd_size, cd_offset, comment_size) = (
        _EOCD.unpack_from(tail, pos)
    )
    if pos + _EOCD.size + comment_size != len(tail):
        raise zip_error("Trailing data")
    if disk != 0 or cd_disk != 0 or disk_records != records:
        raise zip_error("Malformed zip file")
    eocd_offset = tail_start + pos
    cd_end = eocd_offset

    locator_offset = eocd_offset - _EOCD64_LOCATOR.size
    locator = b""
    if locator_offset >= 0:
        locator = _read_at(fp, locator_offset, _EOCD64_LOCATOR.size)
    if locator.startswith(_EOCD64_LOCATOR_SIG):
        _lsig, eocd64_disk, eocd64_offset, total_disks = _EOCD64_LOCATOR.unpack(locator)
        expected_offset = locator_offset - _EOCD64.size
        # No "zip64 extensible data sector": the record sits right before the locator.
        if eocd64_disk != 0 or total_disks > 1 or eocd64_offset != expected_offset:
            raise zip_error("Malformed zip file")
        record = _read_at(fp, eocd64_offset, _EOCD64.size)
        (
            sig64,
            size64,
            _made,
            _needed,
            disk64,
            cd_disk64,
            disk_records64,
            records64,
            cd_size64,
            cd_offset64,
        ) = _EOCD64.unpack(record)
        if sig64 != _EOCD64_SIG:
            raise zip_error("Malformed zip file")
        if size64 != _EOCD64.size - 12:
            raise zip_error("ZIP64 extensible data not allowed")
        if disk64 != 0 or cd_disk64 != 0 or disk_records64 != records64:
            raise zip_error("Malformed zip file")
        # The classic record must either agree or carry the "see ZIP64" sentinels.
        for classic, wide, sentinel in (
            (records, records64, _U16_MAX),
            (cd_size, cd_size64, _U32_MAX),
            (cd_offset, cd_offset64, _U32_MAX),
        ):
            if classic not in (wide, sentinel):
                raise zip_error("Mismatched ZIP64 end of central directory")
        records, cd_size, cd_offset = records64, cd_size64, cd_offset64
        cd_end = eocd64_offset
    elif _U32_MAX in (cd_size, cd_offset):
        raise zip_error("Malformed zip file")

    if cd_offset + cd_size != cd_end:
        raise zip_error("Mismatched central directory offset")
    return EndOfCentralDirectory(
        records=records, cd_offset=cd_offset, cd_size=cd_size, cd_end=cd_end
    )


def _parse_extra(extra: bytes, where: str) -> dict[int, bytes]:
    fields: dict[int, bytes] = {}
    while extra:
        if len(extra) < 4:
            raise zip_error("Malformed zip file")
        field_id, size = struct.unpack_from("<HH", extra)
        if 4 + size > len(extra):
            raise zip_error("Malformed zip file")
        if field_id in fields and field_id in (_EXTRA_ZIP64, _EXTRA_UNICODE_PATH):
            raise zip_error(f"Invalid duplicate extra in {where}")
        fields[field_id] = extra[4 : 4 + size]
        extra = extra[4 + size :]
    return fields


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    """The filename bytes as stored in the central directory."""
    encoding = "utf-8" if info.flag_bits & _FLAG_UTF8 else "cp437"
    try:
        return info.orig_filename.encode(encoding)
    except UnicodeEncodeError:
        raise zip_error("Filename not unicode") from None


def _local_sizes(compressed: int, uncompressed: int, extras: dict[int, bytes]) -> tuple[int, int]:
    if _U32_MAX not in (compressed, uncompressed):
        return compressed, uncompressed
    data = extras.get(_EXTRA_ZIP64)
    if data is None or len(data) % 8:
        raise zip_error("Malformed zip file")
    values = list(struct.unpack(f"<{len(data) // 8}Q", data))
    if uncompressed == _U32_MAX:
        if not values:
            raise zip_error("Malformed zip file")
        uncompressed = values.pop(0)
    if compressed == _U32_MAX:
        if not values:
            raise zip_error("Malformed zip file")
        compressed = values.pop(0)
    return compressed, uncompressed


def check_local_headers(
    fp: BinaryIO, infos: list[zipfile.ZipInfo], eocd: EndOfCentralDirectory
) -> dict[int, int]:
    """Walk the local file headers and check they tile the file exactly.

    Entries must start at offset 0, follow each other with no gap or overlap,
    and end where the central directory starts; each local header must repeat
    its central directory entry (name, method, CRC and sizes). Data
    descriptors, encryption and Info-ZIP Unicode Path extras are refused.

    Returns where each entry's data starts, by the offset of its local header.
    """
    data_offsets: dict[int, int] = {}
    if len(infos) != eocd.records:
        raise zip_error("Mismatched central directory records")
    expected = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset != expected:
            if expected == 0:
                raise zip_error("Unexpected data before the first entry")
            if info.header_offset < expected:
                raise zip_error("Overlapping entries")
            raise zip_error("Unexpected data between entries")
        if info.comment:
            raise zip_error("Comment in central directory")
        if info.flag_bits & (_FLAG_DATA_DESCRIPTOR | _FLAG_ENCRYPTED):
            if info.flag_bits & _FLAG_ENCRYPTED:
                raise zip_error("Encrypted entries are not supported")
            raise zip_error("ZIP contains a data descriptor")
        if _EXTRA_UNICODE_PATH in _parse_extra(info.extra, "central directory"):
            raise zip_error("Info-ZIP Unicode Path extra is not supported")
        header = _read_at(fp, info.header_offset, _LOCAL.size)
        (
            sig,
            _version,
            flags,
            method,
            _time,
            _date,
            crc,
            compressed,
            uncompressed,
            name_size,
            extra_size,
        ) = _LOCAL.unpack(header)
        if sig != _LOCAL_SIG:
            raise zip_error("Malformed local file header")
        name = _read_at(fp, info.header_offset + _LOCAL.size, name_size)
        extras = _parse_extra(
            _read_at(fp, info.header_offset + _LOCAL.size + name_size, extra_size), "local file"
        )
        if name != _raw_name(info):
            raise zip_error("Filename not in central directory")
        if flags & (_FLAG_DATA_DESCRIPTOR | _FLAG_ENCRYPTED):
            raise zip_error("ZIP contains a data descriptor")
        if _EXTRA_UNICODE_PATH in extras:
            raise zip_error("Info-ZIP Unicode Path extra is not supported")
        compressed, uncompressed = _local_sizes(compressed, uncompressed, extras)
        if compressed != info.compress_size:
            raise zip_error("Mis-matched data size")
        if uncompressed != info.file_size:
            raise zip_error("Mis-matched file size")
        if method != info.compress_type or crc != info.CRC:
            raise zip_error("Mis-matched local file header")
        data_offsets[info.header_offset] = info.header_offset + _LOCAL.size + name_size + extra_size
        expected = data_offsets[info.header_offset] + compressed
    if expected != eocd.cd_offset:
        raise zip_error("Unexpected data before the central directory")
    return data_offsets


_CHUNK = 256 * 1024


def check_member_data(fp: BinaryIO, info: zipfile.ZipInfo, data_offset: int) -> None:
    """Check that an entry's data is what its headers declare, by reading all of it.

    A deflated entry is inflated here, never more than its declared size plus one chunk, so
    what it *actually* inflates to is known: a member whose compressed data inflates beyond
    its declared size (:mod:`zipfile` and pip stop reading at that size and never notice,
    other unzip tools do not stop) is refused, as is one that ends early, leaves compressed
    data unused, or does not match its CRC-32. A stored entry must be as long as declared and
    match its CRC-32. The headers were checked against each other first
    (:func:`check_local_headers`), so ``compress_size`` bytes from ``data_offset`` are the
    entry's data and nothing else.
    """
    name = info.orig_filename
    declared = info.file_size
    produced = 0
    crc = 0

    def take(out: bytes) -> None:
        nonlocal produced, crc
        produced += len(out)
        if produced > declared:
            raise zip_error(f"{name!r} inflates beyond its declared size of {declared} bytes")
        crc = zlib.crc32(out, crc)

    deflated = info.compress_type == zipfile.ZIP_DEFLATED
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    fp.seek(data_offset)
    left = info.compress_size
    while left:
        raw = fp.read(min(_CHUNK, left))
        if not raw:
            raise zip_error(f"Truncated data for {name!r}")
        left -= len(raw)
        if not deflated:
            take(raw)
            continue
        if inflater.eof:
            raise zip_error(f"Unexpected data after the compressed data of {name!r}")
        # Inflate a bounded piece at a time (deflate reaches ratios of 1,000:1), and never more
        # than one byte past the declared size: enough to know it is exceeded.
        data = raw
        while True:
            room = min(_CHUNK, declared - produced + 1)
            try:
                out = inflater.decompress(data, room)
            except zlib.error as exc:
                raise zip_error(f"Invalid compressed data for {name!r}") from exc
            take(out)
            data = inflater.unconsumed_tail
            if not data and (len(out) < room or inflater.eof):
                break
    if deflated:
        if not inflater.eof:
            raise zip_error(f"Truncated compressed data for {name!r}")
        if inflater.unused_data or inflater.unconsumed_tail:
            raise zip_error(f"Unexpected data after the compressed data of {name!r}")
    if produced != info.file_size:
        raise zip_error(f"{name!r} is smaller than its declared size of {info.file_size} bytes")
    if crc != info.CRC:
        raise zip_error(f"Bad CRC-32 for {name!r}")
