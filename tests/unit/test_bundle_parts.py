"""A bundle's parts that need no index: reading a requirements file, unpacking a `.tar` that
tries to write outside its folder, and a manifest that lies about its shape."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from stockade.upkeep.bundle.layout import MANIFEST, BundleError, opened, read_manifest
from stockade.upkeep.bundle.requirements import parse_requirements


def test_a_requirements_file_gives_its_requirements_and_those_of_the_files_it_names(
    tmp_path: Path,
) -> None:
    (tmp_path / "base.txt").write_text("lib>=1.0 ; python_version >= '3'\n")
    (tmp_path / "requirements.txt").write_text(
        "# pinned\n"
        "--index-url https://example.test/simple/\n"
        "-r base.txt\n"
        "app[extra]==1.0 \\\n"
        "    --hash=sha256:" + "0" * 64 + "\n"
        "other  # a comment\n"
    )
    found = [str(r) for r in parse_requirements(tmp_path / "requirements.txt")]
    assert found == ["app[extra]==1.0", "other", 'lib>=1.0; python_version >= "3"']


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-e ./local", "an option this export does not know: -e"),
        ("app @ https://example.test/app-1.0.tar.gz", "a direct URL is not in this index"),
        ("app==", "not a requirement"),
    ],
)
def test_a_line_no_index_can_serve_is_refused_with_its_place(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"lib\n{line}\n")
    with pytest.raises(BundleError, match=message) as refused:
        parse_requirements(path)
    assert f"{path}:2" in str(refused.value)


def _tar(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(path, "w") as tar:
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data) if data else None)
    return path


def test_a_tar_that_reaches_outside_its_folder_is_refused(tmp_path: Path) -> None:
    outside = _tar(tmp_path / "out.tar", tarfile.TarInfo("../escaped"), b"x")
    with pytest.raises(BundleError, match="not a readable bundle"), opened(outside, tmp_path / "s"):
        pass
    assert not (tmp_path / "s" / "escaped").exists() and not (tmp_path / "escaped").exists()
    link = tarfile.TarInfo("blobs")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    with (
        pytest.raises(BundleError, match="not a regular file"),
        opened(_tar(tmp_path / "link.tar", link), tmp_path / "s"),
    ):
        pass
    assert list((tmp_path / "s").iterdir()) == []  # nothing left unpacked


@pytest.mark.parametrize(
    "change",
    [
        {"format": "stockade-bundle/99"},
        {"blobs": {"../../etc/passwd": 1}},
        {"blobs": {"a" * 64: -1}},
        {"rows_sha256": "nope"},
        {"usernames": {"x": "alice"}},
    ],
)
def test_a_malformed_manifest_is_refused(tmp_path: Path, change: dict[str, object]) -> None:
    manifest = {
        "format": "stockade-bundle/1",
        "schema": "0015",
        "selection": {"kind": "whole"},
        "rows_sha256": "b" * 64,
        "blobs": {"a" * 64: 3},
        "usernames": {"1": "alice"},
    }
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert read_manifest(tmp_path).blobs == {"a" * 64: 3}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest | change))
    with pytest.raises(BundleError):
        read_manifest(tmp_path)
