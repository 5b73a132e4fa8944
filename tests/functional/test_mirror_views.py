"""Policy views: /views/<view>/simple/ serves the index filtered per file and per version."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import pytest
from sqlalchemy import select, update

from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import File, Project
from stockade.mirror.errors import MirrorError
from stockade.mirror.views import create_view
from stockade.stats.models import DownloadTotal
from support.builders import wheel_bytes, wheel_name
from support.index import Index, run_cli

JSON = "application/vnd.pypi.simple.v1+json"


def _files(index: Index, path: str) -> list[str]:
    response = index.client.get(path, headers={"accept": JSON})
    assert response.status_code == 200, response.text
    return [f["filename"] for f in response.json()["files"]]


def _upload(index: Index, name: str, version: str) -> None:
    assert index.upload(wheel_bytes(name, version), wheel_name(name, version)).status_code == 200


def test_views_filter_per_version_and_file(index: Index) -> None:
    for version in ("1.0", "2.0", "3.0"):
        _upload(index, "demo", version)
    _upload(index, "other", "1.0")
    # 1.0 is old enough; 2.0 and 3.0 are not.
    with index.db.write() as s:
        s.execute(
            update(File)
            .where(File.filename == wheel_name("demo", "1.0"))
            .values(upload_time=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        )
    out = run_cli(index, "view", "create", "safe", "--deny", "demo>=3", "--deny", "other")
    assert out.returncode == 0, out.stderr
    with index.db.write() as s:
        create_view(s, "aged", min_age_days=7, origin=CLI, actor_id=None)
        create_view(s, "only-demo", allow=["demo<2.5"], origin=CLI, actor_id=None)
        create_view(s, "attested", attested_only=True, origin=CLI, actor_id=None)

    assert _files(index, "/views/safe/simple/demo/") == [
        wheel_name("demo", "1.0"),
        wheel_name("demo", "2.0"),
    ]
    safe = index.client.get("/views/safe/simple/demo/", headers={"accept": JSON}).json()
    assert safe["versions"] == ["1.0", "2.0"]
    assert _files(index, "/views/safe/simple/other/") == []
    root = index.client.get("/views/safe/simple/", headers={"accept": JSON}).json()
    assert [p["name"] for p in root["projects"]] == ["demo"]
    assert _files(index, "/views/aged/simple/demo/") == [wheel_name("demo", "1.0")]
    assert _files(index, "/views/only-demo/simple/demo/") == [
        wheel_name("demo", "1.0"),
        wheel_name("demo", "2.0"),
    ]
    assert _files(index, "/views/attested/simple/demo/") == []
    # The public index is unchanged; the views' file links lead to the same files.
    assert len(_files(index, "/simple/demo/")) == 3
    html = index.client.get("/views/safe/simple/demo/").text
    href, _, digest = html.split('href="', 1)[1].split('"', 1)[0].partition("#sha256=")
    download = index.client.get("/views/safe/simple/demo/" + href)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == digest
    # A change to the project reaches the view's page within the journal's poll interval.
    _upload(index, "demo", "2.1")
    deadline = time.monotonic() + 10
    while wheel_name("demo", "2.1") not in _files(index, "/views/safe/simple/demo/"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # Unknown views and names.
    assert index.client.get("/views/nope/simple/").status_code == 404
    assert index.client.get("/views/safe/simple/missing/").status_code == 404
    moved = index.client.get("/views/safe/simple/Demo/", follow_redirects=False)
    assert moved.status_code == 301
    assert moved.headers["location"] == "/views/safe/simple/demo/"
    with index.db.read() as s:
        tags = [e.tag for e in s.scalars(select(Event).where(Event.tag == "view:create"))]
    assert len(tags) == 4


def test_bad_views_are_refused(index: Index) -> None:
    with index.db.write() as s:
        with pytest.raises(MirrorError, match="not a requirement"):
            create_view(s, "x", deny=["demo>>1"], origin=CLI, actor_id=None)
        with pytest.raises(MirrorError, match="Invalid view name"):
            create_view(s, "../x", origin=CLI, actor_id=None)
    listed = run_cli(index, "view", "list", "--json")
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"


def test_project_rules_downloads_and_maintainers_2fa(index: Index) -> None:
    _upload(index, "popular", "1.0")
    _upload(index, "obscure", "1.0")
    out = run_cli(index, "view", "create", "busy", "--min-downloads", "100")
    assert out.returncode == 0, out.stderr
    with index.db.write() as s:
        create_view(s, "careful", maintainers_2fa=True, origin=CLI, actor_id=None)
        popular = s.scalar(select(Project).where(Project.normalized_name == "popular"))
        assert popular is not None
        s.add(DownloadTotal(project_id=popular.id, window_total=150))
    assert _files(index, "/views/busy/simple/popular/") == [wheel_name("popular", "1.0")]
    assert _files(index, "/views/busy/simple/obscure/") == []
    root = index.client.get("/views/busy/simple/", headers={"accept": JSON}).json()
    assert [p["name"] for p in root["projects"]] == ["popular"]
    # alice, their only maintainer, has no second factor.
    assert _files(index, "/views/careful/simple/popular/") == []
    careful = index.client.get("/views/careful/simple/", headers={"accept": JSON}).json()
    assert careful["projects"] == []
    rows = json.loads(run_cli(index, "view", "list", "--json").stdout)
    assert {r["name"]: r["min_downloads"] for r in rows} == {"busy": 100, "careful": None}
