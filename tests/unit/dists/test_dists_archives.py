"""Crafted hostile or broken archives: each must be refused with a one-line DistError."""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import random
import struct
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stockade.dists import ArchiveLimits, DistError, inspect_distribution

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from unit.dists.conftest import Kit, TarMember, Write

WHEEL = "demo-1.0-py3-none-any.whl"
SDIST = "demo-1.0.tar.gz"


def test_crafted_valid_files_are_accepted(kit: type[Kit], write: Write) -> None:
    dist = inspect_distribution(write(WHEEL, kit.wheel_bytes()), WHEEL)
    assert (dist.name, dist.version, dist.metadata_version) == ("demo", "1.0", "2.1")
    assert dist.metadata_bytes == kit.metadata_text()
    dist = inspect_distribution(write(SDIST, kit.sdist_bytes()), SDIST)
    assert (dist.name, dist.file.packagetype, dist.metadata_bytes) == ("demo", "sdist", None)
    # Hand-assembled (stored, no extras) archives pass the structural checks too.
    dist = inspect_distribution(write(WHEEL, kit.raw_zip(kit.raw_wheel_entries())), WHEEL)
    assert dist.name == "demo"


@pytest.mark.parametrize("filename", [WHEEL, SDIST])
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage " * 100,
        b"\x1f\x8b",
        b"PK\x05\x06" + b"\x00" * 18,  # an empty zip
        bz2.compress(b"x" * 1000),
        gzip.compress(b"not a tar archive at all" * 100),
    ],
    ids=["empty", "garbage", "gzip-magic-only", "empty-zip", "bz2", "gzip-not-tar"],
)
def test_garbage(kit: type[Kit], write: Write, filename: str, data: bytes) -> None:
    kit.expect_dist_error(lambda: inspect_distribution(write(filename, data), filename))


def test_formats_swapped(kit: type[Kit], write: Write) -> None:
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, kit.sdist_bytes()), WHEEL), "not a zipfile"
    )
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, kit.wheel_bytes()), SDIST),
        "not a gzip-compressed tarfile",
    )


def test_bz2_tar_named_tar_gz(kit: type[Kit], write: Write) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:bz2") as archive:
        archive.addfile(tarfile.TarInfo("demo-1.0/PKG-INFO"), io.BytesIO(b""))
    kit.expect_dist_error(lambda: inspect_distribution(write(SDIST, raw.getvalue()), SDIST))


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated(kit: type[Kit], write: Write, fraction: float) -> None:
    wheel = kit.wheel_bytes({"demo/data.bin": bytes(range(256)) * 64})
    noise = random.Random(1).randbytes(20000)
    sdist = kit.sdist_bytes(extra=[("demo-1.0/data.bin", noise)])
    for filename, data in ((WHEEL, wheel), (SDIST, sdist)):
        cut = data[: int(len(data) * fraction)]
        kit.expect_dist_error(functools.partial(_inspect_written, write, filename, cut))


def test_fuzzed_bytes_only_raise_dist_error(kit: type[Kit], write: Write) -> None:
    rng = random.Random(20260524)
    seeds = [
        (WHEEL, kit.wheel_bytes()),
        (WHEEL, kit.raw_zip(kit.raw_wheel_entries())),
        (SDIST, kit.sdist_bytes()),
    ]
    for real in ("blinker-1.9.0-py3-none-any.whl", "termcolor-1.1.0.tar.gz"):
        if (kit.corpus_dists / real).exists():
            seeds.append((real, (kit.corpus_dists / real).read_bytes()))
    for _ in range(300):
        filename, seed = rng.choice(seeds)
        data = bytearray(seed)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        path = write(filename, bytes(data))
        outcome = _outcome(functools.partial(inspect_distribution, path, filename))
        assert outcome is None or "\n" not in outcome


def _inspect_written(write: Write, filename: str, data: bytes) -> object:
    return inspect_distribution(write(filename, data), filename)


def _outcome(call: Callable[[], object]) -> str | None:
    """None if *call* succeeds, the DistError message if it fails; anything else propagates."""
    try:
        call()
    except DistError as exc:
        return str(exc)
    return None


# --- ZIP bombs and limits -----------------------------------------------------------------


def _patch_field(data: bytes, member: str, local: int, central: int, value: int) -> bytes:
    """Make both headers of *member* hold *value* in the 4-byte field at these offsets (from
    the local header's and the central directory entry's signatures)."""
    out = bytearray(data)
    name = member.encode()
    for signature, at, name_offset in ((b"PK\x03\x04", local, 30), (b"PK\x01\x02", central, 46)):
        start = 0
        while (pos := out.find(signature, start)) >= 0:
            if out[pos + name_offset : pos + name_offset + len(name)] == name:
                out[pos + at : pos + at + 4] = struct.pack("<L", value)
            start = pos + 4
    return bytes(out)


def _patch_declared_size(data: bytes, member: str, size: int) -> bytes:
    """Make both headers of *member* declare *size* uncompressed bytes."""
    return _patch_field(data, member, 22, 24, size)


def test_member_inflating_beyond_declared_size(kit: type[Kit], write: Write) -> None:
    metadata = kit.metadata_text(body="x" * 200_000)
    data = _patch_declared_size(
        kit.wheel_bytes(metadata=metadata), "demo-1.0.dist-info/METADATA", 300
    )
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, data), WHEEL), "METADATA")


def test_unread_member_inflating_beyond_declared_size(kit: type[Kit], write: Write) -> None:
    # A member stockade never reads itself (not METADATA, not WHEEL): zipfile and pip stop at
    # the declared size, other unzip tools inflate all of it. Its real size is what counts.
    data = _patch_declared_size(
        kit.wheel_bytes({"demo/bomb.bin": bytes(4 * 1024 * 1024)}), "demo/bomb.bin", 300
    )
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL),
        "'demo/bomb.bin' inflates beyond its declared size of 300 bytes",
    )


def _patch_crc(data: bytes, member: str, crc: int) -> bytes:
    """Make both headers of *member* declare *crc* as its CRC-32."""
    return _patch_field(data, member, 14, 16, crc)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_member_not_matching_its_crc(kit: type[Kit], write: Write, compression: int) -> None:
    good = kit.wheel_bytes({"demo/data.bin": b"payload " * 1000}, compression=compression)
    assert inspect_distribution(write(WHEEL, good), WHEEL).name == "demo"
    data = _patch_crc(good, "demo/data.bin", 0x12345678)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL), "Bad CRC-32 for 'demo/data.bin'"
    )


def test_high_compression_ratio(kit: type[Kit], write: Write) -> None:
    data = kit.wheel_bytes({"demo/zeros.bin": bytes(512 * 1024)})
    limits = ArchiveLimits(ratio_min_size=64 * 1024)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL, limits=limits),
        "exceeds the compression ratio of 200",
    )
    # Below ratio_min_size small, regular files are fine.
    assert inspect_distribution(write(WHEEL, data), WHEEL).name == "demo"


def test_declared_total_size_limit(kit: type[Kit], write: Write) -> None:
    data = kit.wheel_bytes({"demo/data.bin": bytes(range(256)) * 400})
    kit.expect_dist_error(
        lambda: inspect_distribution(
            write(WHEEL, data), WHEEL, limits=ArchiveLimits(max_total_uncompressed=50_000)
        ),
        "exceeds the limit of 50000 bytes",
    )


def test_metadata_of_tens_of_megabytes_is_refused_by_default(kit: type[Kit], write: Write) -> None:
    # A PKG-INFO inflating to 30 MiB: its text would be stored and rendered on every view.
    body = random.Random(7).randbytes(15 * 1024 * 1024).hex()
    metadata = kit.metadata_text(body=body)
    sdist = kit.sdist_bytes(pkg_info=metadata)
    kit.expect_dist_error(lambda: inspect_distribution(write(SDIST, sdist), SDIST), "limit 8388608")
    wheel = kit.wheel_bytes(metadata=metadata)
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, wheel), WHEEL), "limit 8388608")
    # A long one (a megabyte of changelog) is fine.
    long = kit.metadata_text(body="changes\n" * 130_000)
    assert inspect_distribution(write(SDIST, kit.sdist_bytes(pkg_info=long)), SDIST).name == "demo"


def test_member_size_limit(kit: type[Kit], write: Write) -> None:
    metadata = kit.metadata_text(body="y" * 5000)
    limits = ArchiveLimits(max_member_size=1000)
    data = kit.wheel_bytes(metadata=metadata)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL, limits=limits), "too large"
    )
    sdist = kit.sdist_bytes(pkg_info=metadata)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, sdist), SDIST, limits=limits), "too large"
    )


def test_member_count_limit(kit: type[Kit], write: Write) -> None:
    limits = ArchiveLimits(max_members=3)
    data = kit.wheel_bytes({"demo/a.py": b"", "demo/b.py": b""})
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL, limits=limits), "Too many members"
    )
    sdist = kit.sdist_bytes(extra=[("demo-1.0/a.py", b""), ("demo-1.0/b.py", b"")])
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, sdist), SDIST, limits=limits), "Too many members"
    )


def test_unsupported_compression(kit: type[Kit], write: Write) -> None:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", kit.metadata_text(), zipfile.ZIP_BZIP2)
        archive.writestr("demo-1.0.dist-info/WHEEL", kit.wheel_file)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, raw.getvalue()), WHEEL),
        "supported compression type",
    )


# --- ZIP structure ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member", ["../evil.py", "/abs/evil.py", "demo/../../evil.py", "demo\\..\\evil.py", "C:/evil"]
)
def test_zip_path_traversal(kit: type[Kit], write: Write, member: str) -> None:
    data = kit.wheel_bytes({member: b"evil"})
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, data), WHEEL), "ZIP archive")


def _zip_with_duplicate_metadata(kit: type[Kit]) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", kit.metadata_text())
        archive.writestr("demo-1.0.dist-info/METADATA", kit.metadata_text(name="other"))
        archive.writestr("demo-1.0.dist-info/WHEEL", kit.wheel_file)
    return raw.getvalue()


def test_duplicate_zip_entries(kit: type[Kit], write: Write) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = _zip_with_duplicate_metadata(kit)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL),
        "Duplicate filename in central directory",
    )


def test_overlapping_entries(kit: type[Kit], write: Write) -> None:
    entries = kit.raw_wheel_entries()
    central = [(entry.name, index) for index, entry in enumerate(entries)]
    central.append(("demo/other.py", 0))  # a second record for the first local entry
    data = kit.raw_zip(entries, central=central)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL), "Overlapping entries"
    )


def test_local_header_hiding_the_next_entry(kit: type[Kit], write: Write) -> None:
    entries = kit.raw_wheel_entries()
    entries[0].local_size = len(entries[0].data) + 30  # a streaming reader would see otherwise
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, kit.raw_zip(entries)), WHEEL),
        "ZIP archive not accepted",
    )


def test_local_entry_missing_from_central_directory(kit: type[Kit], write: Write) -> None:
    entries = [*kit.raw_wheel_entries(), kit.RawEntry("demo/hidden.py", b"evil")]
    central = [(entry.name, index) for index, entry in enumerate(entries[:-1])]
    data = kit.raw_zip(entries, central=central)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL), "Unexpected data"
    )


def test_central_name_differs_from_local_name(kit: type[Kit], write: Write) -> None:
    entries = kit.raw_wheel_entries()
    central = [(entry.name, index) for index, entry in enumerate(entries)]
    central[0] = ("demo/renamed.py", 0)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, kit.raw_zip(entries, central=central)), WHEEL),
        "Filename not in central directory",
    )


def test_prepended_data(kit: type[Kit], write: Write) -> None:
    # zipfile itself copes with this (it shifts every offset); we refuse it.
    data = b"#!/bin/sh\necho hi\n" + kit.wheel_bytes()
    assert zipfile.ZipFile(io.BytesIO(data)).read("demo-1.0.dist-info/WHEEL")
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, data), WHEEL), "ZIP archive")
    # Same, with offsets rewritten to account for the prefix.
    entries = kit.raw_wheel_entries()
    data = kit.raw_zip(entries, prefix=b"JUNK" * 4, offset_shift=16)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL), "before the first entry"
    )


def test_appended_data(kit: type[Kit], write: Write) -> None:
    data = kit.wheel_bytes() + b"trailing"
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, data), WHEEL), "Trailing data")
    data = kit.wheel_bytes() + kit.wheel_bytes(name="other")
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, data), WHEEL), "ZIP archive")


def test_archive_comment(kit: type[Kit], write: Write) -> None:
    entries = kit.raw_wheel_entries()
    data = kit.raw_zip(entries, comment=b"built by hand")
    assert inspect_distribution(write(WHEEL, data), WHEEL).name == "demo"
    # A comment that smuggles a second end-of-central-directory record.
    data = kit.raw_zip(entries, comment=b"PK\x05\x06" + b"\x00" * 30)
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, data), WHEEL), "ZIP archive")


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        view = memoryview(data)
        self.buffer += view
        return view.nbytes


def test_data_descriptor(kit: type[Kit], write: Write) -> None:
    stream = _Unseekable()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", kit.metadata_text())
        archive.writestr("demo-1.0.dist-info/WHEEL", kit.wheel_file)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, bytes(stream.buffer)), WHEEL), "data descriptor"
    )


# --- tar.gz -------------------------------------------------------------------------------


def _tar_error(
    kit: type[Kit],
    write: Write,
    extra: list[TarMember | tuple[str, bytes]],
    *fragments: str,
    limits: ArchiveLimits | None = None,
) -> None:
    data = kit.sdist_bytes(extra=extra)
    kwargs = {"limits": limits} if limits else {}
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, data), SDIST, **kwargs), *fragments
    )


@pytest.mark.parametrize(
    "link",
    ["../../etc/passwd", "/etc/passwd", "../other-dir/file", "..", "sub/../../.."],
)
def test_symlink_outside(kit: type[Kit], write: Write, link: str) -> None:
    member = kit.TarMember("demo-1.0/link", type=tarfile.SYMTYPE, linkname=link)
    _tar_error(kit, write, [member], "points outside")


@pytest.mark.parametrize("link", ["/etc/passwd", "../etc/passwd", "other-1.0/file"])
def test_hardlink_outside(kit: type[Kit], write: Write, link: str) -> None:
    member = kit.TarMember("demo-1.0/link", type=tarfile.LNKTYPE, linkname=link)
    _tar_error(kit, write, [member], "points outside")


def test_links_inside_are_fine(kit: type[Kit], write: Write) -> None:
    extra = [
        kit.TarMember("demo-1.0/docs", type=tarfile.DIRTYPE),
        kit.TarMember("demo-1.0/docs/README", type=tarfile.SYMTYPE, linkname="../setup.py"),
        kit.TarMember("demo-1.0/copy.py", type=tarfile.LNKTYPE, linkname="demo-1.0/setup.py"),
    ]
    data = kit.sdist_bytes(extra=extra)
    assert inspect_distribution(write(SDIST, data), SDIST).name == "demo"


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_device_files(kit: type[Kit], write: Write, kind: bytes) -> None:
    _tar_error(kit, write, [kit.TarMember("demo-1.0/dev", type=kind)], "not a regular file")


@pytest.mark.parametrize(
    ("member", "fragment"),
    [
        ("/etc/cron.d/evil", "absolute member name"),
        ("demo-1.0/../../evil", "parent directory"),
        ("../evil", "parent directory"),
        ("demo-1.0\\..\\evil", "backslash"),
        ("other-1.0/setup.py", "top-level directories"),
        ("stray.txt", "top-level directories"),
    ],
)
def test_tar_member_names(kit: type[Kit], write: Write, member: str, fragment: str) -> None:
    _tar_error(kit, write, [(member, b"x")], fragment)


def test_duplicate_and_odd_pkg_info(kit: type[Kit], write: Write) -> None:
    _tar_error(kit, write, [("demo-1.0/PKG-INFO", kit.metadata_text())], "Duplicate member")
    data = kit.tar_gz_bytes(
        [
            kit.TarMember("demo-1.0", type=tarfile.DIRTYPE),
            kit.TarMember("demo-1.0/PKG-INFO", type=tarfile.SYMTYPE, linkname="setup.py"),
            ("demo-1.0/setup.py", b""),
        ]
    )
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, data), SDIST), "is not a regular file"
    )


def test_only_nested_pkg_info(kit: type[Kit], write: Write) -> None:
    data = kit.tar_gz_bytes(
        [
            ("demo-1.0/setup.py", b""),
            ("demo-1.0/demo.egg-info/PKG-INFO", kit.metadata_text()),
        ]
    )
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, data), SDIST),
        "does not contain the required PKG-INFO file: demo-1.0/PKG-INFO",
    )


def test_leading_dot_slash_names(kit: type[Kit], write: Write) -> None:
    data = kit.tar_gz_bytes(
        [
            kit.TarMember("./demo-1.0", type=tarfile.DIRTYPE),
            ("./demo-1.0/PKG-INFO", kit.metadata_text()),
        ]
    )
    assert inspect_distribution(write(SDIST, data), SDIST).name == "demo"


def test_gzip_bomb(kit: type[Kit], write: Write) -> None:
    # 64 MiB of zeros compress to about 64 kB; the limit stops decompression early.
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("demo-1.0/zeros.bin")
        info.size = 64 * 1024 * 1024
        archive.addfile(info, io.BytesIO(bytes(info.size)))
    data = gzip.compress(raw.getvalue(), compresslevel=1)
    assert len(data) < 1024 * 1024
    started = time.monotonic()
    kit.expect_dist_error(
        lambda: inspect_distribution(
            write(SDIST, data), SDIST, limits=ArchiveLimits(max_total_uncompressed=2 * 1024 * 1024)
        ),
        "Decompressed size exceeds the limit",
    )
    assert time.monotonic() - started < 2


def test_huge_extended_header(kit: type[Kit], write: Write) -> None:
    member = kit.TarMember("demo-1.0/file", b"x", extra={"comment": "z" * 50_000})
    _tar_error(
        kit,
        write,
        [member],
        "Extended tar header is too large",
        limits=ArchiveLimits(max_member_size=10_000),
    )


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        inspect_distribution(tmp_path / WHEEL, WHEEL)


def _plain_tar(members: list[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def test_members_hidden_after_end_of_archive(kit: type[Kit], write: Write) -> None:
    # tarfile stops at the first end-of-archive marker; `tar --ignore-zeros` reads on.
    first = _plain_tar([("demo-1.0/PKG-INFO", kit.metadata_text())])
    hidden = _plain_tar([("../../etc/cron.d/evil", b"* * * * * root sh")])
    data = gzip.compress(first + hidden)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, data), SDIST), "after the end of the archive"
    )
    # Zero padding after the end marker is normal.
    data = gzip.compress(first + bytes(20 * 512))
    assert inspect_distribution(write(SDIST, data), SDIST).name == "demo"


def test_corrupt_header_mid_archive(kit: type[Kit], write: Write) -> None:
    tar = bytearray(
        _plain_tar(
            [
                ("demo-1.0/PKG-INFO", kit.metadata_text()),
                ("demo-1.0/a.py", b"a = 1\n"),
                ("demo-1.0/b.py", b"b = 2\n"),
            ]
        )
    )
    position = tar.find(b"demo-1.0/a.py")
    header = position - position % 512
    tar[header + 148 : header + 156] = b"0000000\0"  # wrong checksum
    data = gzip.compress(bytes(tar))
    kit.expect_dist_error(lambda: inspect_distribution(write(SDIST, data), SDIST), "Tar archive")


def test_zip64_archives(kit: type[Kit], write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    members = {
        "demo/__init__.py": b"x = 1\n",
        "demo-1.0.dist-info/METADATA": kit.metadata_text(),
        "demo-1.0.dist-info/WHEEL": kit.wheel_file,
    }
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            with archive.open(name, "w", force_zip64=True) as handle:
                handle.write(data)
    assert inspect_distribution(write(WHEEL, raw.getvalue()), WHEEL).name == "demo"
    # Force the ZIP64 end of central directory records too.
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    monkeypatch.undo()
    assert b"PK\x06\x06" in raw.getvalue()
    assert inspect_distribution(write(WHEEL, raw.getvalue()), WHEEL).name == "demo"
    # ...and with data between the ZIP64 record and its locator.
    patched = bytearray(raw.getvalue())
    locator = patched.rfind(b"PK\x06\x07")
    patched[locator:locator] = b"JUNK"
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, bytes(patched)), WHEEL))
