"""TUF in-process: batches follow the journal, the admin page shows the root's fingerprint,
and the metadata paths refuse what they do not serve."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tuf.api.metadata import Metadata, Targets

from stockade.config import Settings
from stockade.events.services import CLI
from stockade.tuf.models import TufTarget
from stockade.tuf.publish import publish
from stockade.tuf.repository import TufError, init_repository
from support.builders import wheel_bytes, wheel_name
from support.index import Index, login_client


@pytest.fixture
def tuf_index(settings: Settings) -> Iterator[Index]:
    """An index with TUF on; batches run only when a test runs them (no batch loop)."""
    with Index.open(dataclasses.replace(settings, tuf_batch_interval=0.0)) as index:
        yield index


def _init(index: Index, keys: Path) -> str:
    info = init_repository(
        index.db, index.app.context.settings, keys, root_keys=2, threshold=1, bit_length=3,
        origin=CLI,
    )  # fmt: skip
    return info.fingerprint


def _targets(index: Index) -> dict[str, str]:
    with index.db.read() as session:
        return {
            path: sha256
            for path, sha256 in session.execute(select(TufTarget.path, TufTarget.sha256))
        }


def test_a_batch_signs_what_the_journal_changed_once(tuf_index: Index, tmp_path: Path) -> None:
    index = tuf_index
    settings = index.app.context.settings
    assert index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")).status_code == 200
    _init(index, tmp_path / "keys")
    first = publish(index.db, settings)
    assert first is not None and first.timestamp == 1 and first.snapshot == 1
    assert len(first.bins) == 8  # every bin signed once at the start
    # Two uploads between batches: one snapshot, one timestamp, only the bins they touched.
    for version in ("1.1", "1.2"):
        content = wheel_bytes("demo", version)
        assert index.upload(content, wheel_name("demo", version)).status_code == 200
    second = publish(index.db, settings)
    assert second is not None and second.snapshot == 2 and second.timestamp == 2
    assert second.projects == 1 and 1 <= len(second.bins) <= 4
    targets = _targets(index)
    assert hashlib.sha256(content).hexdigest() in targets.values()
    # The page target is the page the simple API serves, byte for byte.
    html = index.client.get("/simple/demo/", headers={"Accept": "text/html"}).content
    assert targets["simple/demo/index.html"] == hashlib.sha256(html).hexdigest()
    signed = index.client.get("/simple/demo/index.html")
    assert signed.status_code == 200 and signed.content == html
    assert signed.headers["content-type"] == "text/html; charset=utf-8"
    # Nothing changed: nothing signed.
    third = publish(index.db, settings)
    assert third is not None and third.timestamp is None and third.bins == []
    # Each bin's metadata lists exactly its targets.
    bins = Metadata[Targets].from_bytes(index.client.get("/tuf/1.bins.json").content).signed
    assert bins.delegations is not None and bins.delegations.succinct_roles is not None
    roles = bins.delegations.succinct_roles
    path = next(p for p in targets if p.startswith("packages/"))
    with index.db.read() as session:
        number = session.scalar(select(TufTarget.bin).where(TufTarget.path == path))
    role = roles.get_role_for_target(path)
    assert role == f"bin-{number:x}"


def test_init_is_refused_twice(tuf_index: Index, tmp_path: Path) -> None:
    _init(tuf_index, tmp_path / "keys")
    with pytest.raises(TufError, match="already on"):
        _init(tuf_index, tmp_path / "other-keys")


def test_admin_page_shows_the_root_fingerprint(tuf_index: Index, tmp_path: Path) -> None:
    tuf_index.user("root", admin=True)
    admin = login_client(tuf_index, "root")
    assert "stockade tuf init --keys DIR" in admin.get("/admin/").text
    fingerprint = _init(tuf_index, tmp_path / "keys")
    root = tuf_index.client.get("/tuf/1.root.json")
    assert root.status_code == 200
    assert hashlib.sha256(root.content).hexdigest() == fingerprint
    assert fingerprint in admin.get("/admin/").text


def test_metadata_paths_refuse_what_they_do_not_serve(tuf_index: Index, tmp_path: Path) -> None:
    _init(tuf_index, tmp_path / "keys")
    for path in (
        "/tuf/",
        "/tuf/root.json",
        "/tuf/0.root.json",
        "/tuf/1.root.json.bak",
        "/tuf/01.root.json",
        "/tuf/1.ROOT.json",
        "/tuf/99999999999999999999.root.json",
        "/tuf/1.root.json/x",
        "/simple/nothing/index.html",
        "/simple/nothing/index.json",
    ):
        assert tuf_index.client.get(path).status_code == 404, path
    assert tuf_index.client.post("/tuf/timestamp.json").status_code == 405
    assert tuf_index.client.head("/tuf/1.root.json").content == b""
