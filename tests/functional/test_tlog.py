"""The transparency log (issue 18, point 2): every file change is an entry, and what the log
serves (checkpoint, tiles, proofs, lookups) checks out with a verifier written here from
RFC 6962 and the C2SP specs, not with stockade's own code."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from stockade.abuse.quarantine import Mailing, quarantine
from stockade.config import load_settings
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.filelog import bootstrap
from stockade.index.models import Project
from stockade.lifecycle.changes import find_project
from stockade.lifecycle.deletion import delete_file
from stockade.lifecycle.restoration import restore
from stockade.lifecycle.yanking import yank
from stockade.storage import open_storage
from stockade.tlog import merkle
from stockade.tlog.models import LogEntry, LogFile, LogNode, LogState
from stockade.tlog.note import verifier_key
from stockade.upkeep.moving.files import Candidate, import_files
from stockade.upkeep.progress import Silent
from stockade.verify.interface import Check, VerifyError
from stockade.verify.logcheck import LogCheck
from stockade.verify.run import verify
from stockade.verify.targets import file_target
from support.backend import backend_overrides
from support.builders import wheel_bytes, wheel_name
from support.index import Index
from support.index import invoke_cli as cli

PROJECTS, VERSIONS = 40, 25  # 1,000 files


# -- an independent RFC 6962 verifier ---------------------------------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 2.1, by its definition."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _h(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _root_from_path(leaf: bytes, m: int, n: int, path: list[bytes]) -> bytes:
    """The root PATH(m, D[n]) (2.1.1, nearest the leaf first) leads to, read top down."""
    if n == 1:
        assert not path, "proof too long"
        return leaf
    assert path, "proof too short"
    k, *rest, last = _split(n), *path
    if m < k:
        return _h(b"\x01" + _root_from_path(leaf, m, k, rest) + last)
    return _h(b"\x01" + last + _root_from_path(leaf, m - k, n - k, rest))


def _roots_from_consistency(
    m: int, n: int, proof: list[bytes], old_root: bytes
) -> tuple[bytes, bytes]:
    """(old root, new root) that PROOF(m, D[n]) (2.1.2) leads to, read top down: SUBPROOF's
    recursion undone, with ``old_root`` standing for the one subtree the proof leaves out."""

    def sub(m: int, n: int, b: bool, path: list[bytes]) -> tuple[bytes, bytes]:
        if m == n:
            if b:
                assert not path
                return old_root, old_root
            assert len(path) == 1
            return path[0], path[0]
        k, *rest, last = _split(n), *path
        if m <= k:
            old, new = sub(m, k, b, rest)
            return old, _h(b"\x01" + new + last)
        old, new = sub(m - k, n - k, False, rest)
        return _h(b"\x01" + last + old), _h(b"\x01" + last + new)

    return sub(m, n, True, proof)


def _open_note(note: bytes, vkey: str) -> list[str]:
    """C2SP signed-note: the checkpoint's lines, once the Ed25519 signature checks out."""
    name, key_id, key = vkey.strip().split("+", 2)
    raw = base64.b64decode(key)
    assert raw[0] == 1 and _h(name.encode() + b"\n" + raw)[:4].hex() == key_id
    text, signatures = note.decode().split("\n\n")
    line = signatures.rstrip("\n").split("\n")[0]
    assert line.startswith("\u2014 " + name + " ")
    sig = base64.b64decode(line.rsplit(" ", 1)[1])
    assert sig[:4].hex() == key_id
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], (text + "\n").encode())
    return text.split("\n")


def _tile_path(level: str, index: int, width: int) -> str:
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])
    return f"/log/tile/{level}/{path}" + ("" if width == 256 else f".p/{width}")


# -- the index --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, postgres, seaweed) -> Iterator[Index]:  # type: ignore[no-untyped-def]
    overrides, name = backend_overrides(postgres, seaweed)
    root = tmp_path_factory.mktemp("tlog")
    settings = load_settings(
        root / "data",
        environ={},
        overrides={"cache_poll_interval": 0.2, "scheduler": False, **overrides},
    )
    with Index.open(settings) as index:
        index.user("alice")
        folder = root / "wheels"
        folder.mkdir()
        candidates = []
        for p in range(PROJECTS):
            for v in range(VERSIONS):
                path = folder / wheel_name(f"proj{p}", f"1.{v}")
                path.write_bytes(wheel_bytes(f"proj{p}", f"1.{v}"))
                candidates.append(Candidate(path, "alice"))
        report = import_files(
            settings,
            index.db,
            open_storage(settings.storage_url),
            candidates,
            origin=CLI,
            progress=Silent(),
            via="test",
        )
        assert len(report.imported) == PROJECTS * VERSIONS, report.refused
        yield index
    if postgres is not None:
        postgres.drop_database(name)


def _checkpoint(index: Index) -> tuple[int, bytes]:
    vkey = index.client.get("/log/key").text
    lines = _open_note(index.client.get("/log/checkpoint").content, vkey)
    return int(lines[1]), base64.b64decode(lines[2])


def _all_entries(index: Index, size: int) -> list[bytes]:
    """Every entry, read from the C2SP entry bundles."""
    entries: list[bytes] = []
    for tile in range(0, (size + 255) // 256):
        width = min(256, size - tile * 256)
        bundle = index.client.get(_tile_path("entries", tile, width))
        assert bundle.status_code == 200
        body, at = bundle.content, 0
        while at < len(body):
            length = int.from_bytes(body[at : at + 2], "big")
            entries.append(body[at + 2 : at + 2 + length])
            at += 2 + length
    return entries


def test_every_file_of_a_1000_file_index_is_proved_by_an_independent_verifier(
    big: Index,
) -> None:
    size, root = _checkpoint(big)
    assert size == PROJECTS * VERSIONS
    entries = _all_entries(big, size)
    leaves = [_h(b"\x00" + e) for e in entries]
    # The tiles hold the leaf hashes, and the tree they make has the signed root.
    level0 = b"".join(
        big.client.get(_tile_path("0", t, min(256, size - t * 256))).content
        for t in range((size + 255) // 256)
    )
    assert level0 == b"".join(leaves)
    assert _mth(leaves) == root
    level1 = big.client.get(_tile_path("1", 0, size // 256)).content
    assert level1 == b"".join(_mth(leaves[i * 256 : (i + 1) * 256]) for i in range(size // 256))
    files = set()
    for i, e in enumerate(entries):
        entry = json.loads(e)
        assert entry["action"] == "publish" and entry["actor"] == "alice"
        files.add(entry["filename"])
        if i % 50 == 0:  # lookups by filename give the same entry
            found = big.client.get(f"/log/lookup/{entry['filename']}").json()
            assert found["index"] == i and base64.b64decode(found["data"]) == e
            assert found["entry"] == entry
        proof = big.client.get("/log/proof/inclusion", params={"index": i, "size": size})
        path = [base64.b64decode(h) for h in proof.json()["hashes"]]
        assert _root_from_path(_h(b"\x00" + e), i, size, path) == root
    assert files == {
        wheel_name(f"proj{p}", f"1.{v}") for p in range(PROJECTS) for v in range(VERSIONS)
    }


def test_changes_are_entries_and_the_grown_log_is_consistent_with_the_old(big: Index) -> None:
    old_size, old_root = _checkpoint(big)
    actor = big.user("alice").id
    victim = wheel_name("proj1", "1.3")

    def unit(session) -> None:  # type: ignore[no-untyped-def]
        yank(session, _project(session, "proj0"), "1.0", "broken", origin=CLI, actor_id=actor)
        delete_file(
            session, _project(session, "proj1"), victim, origin=CLI, actor_id=actor, admin=True
        )

    big.db.run_write(unit)
    big.db.run_write(lambda s: restore(s, "proj1", filename=victim, origin=CLI, actor_id=None))
    big.db.run_write(
        lambda s: quarantine(
            s,
            _project(s, "proj2"),
            "malware",
            origin=CLI,
            actor_id=actor,
            mailing=Mailing("stockade", "http://testserver"),
        )
    )
    big.app.context.pages.poll_once()
    size, root = _checkpoint(big)
    new = [json.loads(e) for e in _all_entries(big, size)[old_size:]]
    assert [(e["action"], e["filename"]) for e in new[:3]] == [
        ("yank", wheel_name("proj0", "1.0")),
        ("delete", victim),
        ("restore", victim),
    ]
    assert [e["action"] for e in new[3:]] == ["quarantine"] * VERSIONS
    assert big.client.get(f"/log/lookup/{victim}").json()["entry"]["action"] == "restore"
    # A file the change did not touch has no new entry.
    assert size == old_size + 3 + VERSIONS
    for m in (1, 7, 256, old_size - 1, old_size):
        proof = big.client.get("/log/proof/consistency", params={"old": m, "size": size})
        path = [base64.b64decode(h) for h in proof.json()["hashes"]]
        m_root = root if m == size else _mth_of(big, m)
        assert _roots_from_consistency(m, size, path, m_root) == (m_root, root)
    assert old_root == _mth_of(big, old_size)


def _mth_of(index: Index, size: int) -> bytes:
    return _mth([_h(b"\x00" + e) for e in _all_entries(index, size)])


def test_hostile_log_requests_get_one_line_refusals(big: Index) -> None:
    size, _ = _checkpoint(big)
    cases = {
        f"/log/proof/inclusion?index=0&size={size + 1}": 400,
        f"/log/proof/inclusion?index={size}&size={size}": 400,
        f"/log/proof/consistency?old={size + 1}&size={size}": 400,
        "/log/proof/consistency?old=x&size=1": 422,
        "/log/tile/0/1234": 404,
        "/log/tile/0/x000/001": 404,
        "/log/tile/0/000.p/0": 404,
        "/log/tile/9/000": 404,
        "/log/tile/entries/999": 404,
        "/log/lookup/nothing-1.0.tar.gz": 404,
    }
    for path, status in cases.items():
        answer = big.client.get(path)
        assert answer.status_code == status, path
        if status != 422:
            assert answer.text.count("\n") == 1, path


def _project(session: Session, name: str) -> Project:
    project = find_project(session, name)
    assert project is not None
    return project


def _log_check(index: Index, state: Path) -> Check:
    return LogCheck(index.client, "http://testserver", state)


def test_verify_refuses_a_deleted_file_and_a_wrong_key(big: Index, tmp_path: Path) -> None:
    wheel = big.settings.data_dir.parent / "wheels" / wheel_name("proj7", "1.4")
    actor = big.user("alice").id
    big.db.run_write(
        lambda s: delete_file(
            s, _project(s, "proj7"), wheel.name, origin=CLI, actor_id=actor, admin=True
        )
    )
    (outcome,) = verify([_log_check(big, tmp_path / "a")], [file_target(wheel)])
    assert not outcome.ok and "the log says it was deleted" in outcome.message
    assert not (tmp_path / "a" / "checkpoint").exists()

    other = Ed25519PrivateKey.generate()
    wrong = str(verifier_key("testserver/log", other))
    check = LogCheck(big.client, "http://testserver", tmp_path / "b", key=wrong)
    with pytest.raises(VerifyError, match="not signed by testserver/log"):
        verify([check], [file_target(wheel)])


def test_verify_passes_then_fails_on_a_rewritten_log(big: Index, tmp_path: Path) -> None:
    wheel = big.settings.data_dir.parent / "wheels" / wheel_name("proj5", "1.2")
    state = tmp_path / "state"
    outcomes = verify([_log_check(big, state)], [file_target(wheel)])
    assert all(o.ok for o in outcomes), outcomes
    saved = (state / "checkpoint").read_bytes()

    # A file changed on disk is refused.
    tampered = tmp_path / "t" / wheel.name
    tampered.parent.mkdir()
    tampered.write_bytes(wheel.read_bytes() + b"\0")
    (bad,) = verify([_log_check(big, state)], [file_target(tampered)])
    assert not bad.ok and "sha256" in bad.message
    assert (state / "checkpoint").read_bytes() == saved

    # Someone with the database rewrites entry 0 (a file's hash) and rebuilds the tree, then
    # the log grows on: every proof against the new tree checks out, but it does not extend
    # the checkpoint the client saw.
    def rewrite(session) -> None:  # type: ignore[no-untyped-def]
        rows = session.execute(select(LogEntry.idx, LogEntry.data).order_by(LogEntry.idx)).all()
        first = json.loads(rows[0].data)
        first["sha256"] = "0" * 64
        data = [json.dumps(first, sort_keys=True, separators=(",", ":")).encode()]
        data += [row.data for row in rows[1:]]
        session.execute(delete(LogNode))
        frontier: list[bytes] = []
        for i, d in enumerate(data):
            frontier, done = merkle.append(i, frontier, merkle.leaf_hash(d))
            session.add_all(LogNode(level=lv, idx=ix, hash=h) for lv, ix, h in done)
        session.get(LogEntry, 0).data = data[0]
        log = session.get(LogState, 1)
        log.frontier = b"".join(frontier)

    big.db.run_write(rewrite)
    big.db.run_write(
        lambda s: yank(s, _project(s, "proj6"), "1.0", None, origin=CLI, actor_id=None)
    )
    big.app.context.pages.poll_once()
    with pytest.raises(VerifyError, match="rewritten"):
        verify([_log_check(big, state)], [file_target(wheel)])
    assert (state / "checkpoint").read_bytes() == saved


def test_bootstrap_logs_an_index_that_predates_the_log(index: Index) -> None:
    off = cli(index, "log", "disable")
    assert off.returncode == 0, off.stderr
    token = index.token("alice")
    for version in ("1.0", "2.0"):
        data = wheel_bytes("early", version)
        answer = index.upload(data, wheel_name("early", version), token=token)
        assert answer.status_code == 200, answer.text
    actor = index.user("alice").id
    index.db.run_write(
        lambda s: yank(s, _project(s, "early"), "1.0", None, origin=CLI, actor_id=actor)
    )
    with index.db.read() as session:
        assert session.scalar(select(LogState.size)) == 0
    seen: list[tuple[int, int]] = []
    assert bootstrap(index.db, origin=CLI, progress=lambda d, t: seen.append((d, t))) == 3
    assert seen == [(1, 1)]
    again = cli(index, "log", "bootstrap")  # again: nothing new
    assert again.returncode == 0 and again.stdout.startswith("0 entries appended;"), again.stdout
    key = cli(index, "log", "key")
    # The same key (the CLI's origin comes from its own settings: no base_url here).
    served = index.client.get("/log/key").text.strip()
    assert key.stdout.strip().split("+", 2)[2] == served.split("+", 2)[2]
    assert oct((index.settings.data_dir / "log.key").stat().st_mode & 0o777) == "0o600"
    with index.db.read() as session:
        flags = {
            r.filename: r.flags for r in session.execute(select(LogFile.filename, LogFile.flags))
        }
    assert flags == {wheel_name("early", "1.0"): "y", wheel_name("early", "2.0"): ""}
    with index.db.read() as session:
        tags = session.scalars(select(Event.tag).where(Event.tag.like("log:%")).order_by(Event.id))
        assert list(tags) == ["log:disable", "log:enable", "log:bootstrap", "log:bootstrap"]
