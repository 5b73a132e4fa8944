"""Reading a devpi export that is damaged or hostile: a clear refusal for the whole export or
for the one file, never a file read from outside the export."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from stockade.upkeep.moving.devpi import read_export
from stockade.upkeep.moving.files import MoveError

SHA = "ab" * 32


def _entry(relpath: str, **extra: object) -> dict[str, object]:
    return {
        "type": "releasefile",
        "relpath": relpath,
        "entrymapping": {
            "hashes": {"sha256": SHA},
            "last_modified": "Thu, 03 Dec 2026 14:32:43 GMT",
        },
        **extra,
    }


def _export(tmp_path: Path, files: list[object], users: object = None) -> Path:
    export = tmp_path / "export"
    export.mkdir()
    index = {
        "users": users if users is not None else {"alice": {"email": "a@example.test"}},
        "indexes": {"alice/dev": {"indexconfig": {"type": "stage", "bases": []}, "files": files}},
    }
    (export / "dataindex.json").write_text(json.dumps(index))
    return export


@pytest.mark.parametrize("content", ["{not json", "[]", '{"users": [], "indexes": {}}'])
def test_a_folder_without_a_readable_index_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "dataindex.json").write_text(content)
    with pytest.raises(MoveError, match=r"dataindex\.json"):
        read_export(tmp_path, None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MoveError, match=r"no dataindex\.json"):
        read_export(tmp_path / "empty", None)
    with pytest.raises(MoveError, match="is not a folder"):
        read_export(tmp_path / "dataindex.json", None)


def test_files_outside_the_export_missing_or_without_a_hash_are_refused(tmp_path: Path) -> None:
    (tmp_path / "secret-1.0.tar.gz").write_bytes(b"outside")
    export = _export(
        tmp_path,
        [
            _entry("../secret-1.0.tar.gz"),
            _entry("/etc/passwd"),
            _entry("alice/dev/gone/1.0/gone-1.0.tar.gz"),
            {"type": "releasefile", "relpath": "alice/dev/a/1.0/a-1.0.tar.gz"},
            "not an entry",
        ],
    )
    (export / "alice/dev/a/1.0").mkdir(parents=True)
    (export / "alice/dev/a/1.0/a-1.0.tar.gz").write_bytes(b"x")
    plan = read_export(export, None)
    assert plan.candidates == []
    reasons = dict(plan.refused)
    assert "is not a distribution in the export" in reasons["secret-1.0.tar.gz"]
    assert "is not a distribution in the export" in reasons["passwd"]
    assert "missing from the export" in reasons["gone-1.0.tar.gz"]
    assert reasons["a-1.0.tar.gz"] == "the export gives no sha256 for it"
    assert "not a file entry" in reasons["alice/dev: an entry"]


def test_owners_hashes_and_upload_times(tmp_path: Path) -> None:
    users = {
        "alice": {
            "email": "a@example.test",
            "pwhash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        },
        "bob": {"pwsalt": "x", "pwhash": "0" * 64},
    }
    export = _export(
        tmp_path,
        [
            _entry(
                "alice/dev/a/1.0/a-1.0.tar.gz",
                log=[{"what": "upload", "when": [2020, 1, 2, 3, 4, 5]}],
            )
        ],
        users,
    )
    (export / "alice/dev/a/1.0").mkdir(parents=True)
    (export / "alice/dev/a/1.0/a-1.0.tar.gz").write_bytes(b"x")
    plan = read_export(export, None)
    (candidate,) = plan.candidates
    assert candidate.owner == "alice"
    assert candidate.sha256 == SHA
    assert candidate.uploaded_at == dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    alice, bob = plan.users
    assert alice.password_hash is not None and alice.password_hash.startswith("$argon2id$")
    assert bob.password_hash is None and bob.email is None
