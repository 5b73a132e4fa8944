"""`stockade mirror …` as the operator runs it (real subprocesses), against a static upstream
on loopback; and the upstream settings (``[[upstream]]`` tables, STOCKADE_UPSTREAM_URL)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from stockade.config import ConfigError, load_settings
from stockade.db.base import utcnow
from stockade.events.models import Event
from stockade.index.models import File, Project
from stockade.index.paths import blob_key
from stockade.mirror.models import MirrorFile, MirrorOrigin, MirrorProject
from stockade.storage import open_storage
from support.builders import metadata_text, wheel_bytes, wheel_name
from support.index import Index, run_cli
from support.mirror_upstream import StaticUpstream

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def up(tmp_path: Path) -> Iterator[StaticUpstream]:
    with StaticUpstream.start(tmp_path / "upstream") as upstream:
        yield upstream


def cli(index: Index, *args: str) -> str:
    proc = run_cli(index, "mirror", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def test_add_sync_with_files_list_and_remove(
    index: Index, up: StaticUpstream, tmp_path: Path
) -> None:
    name = wheel_name("synced", "1.0")
    meta = metadata_text("synced", "1.0").encode()
    up.add_project("synced", [(name, wheel_bytes("synced", "1.0"))], metadata={name: meta})
    up.add_project("other", [(wheel_name("other", "2.0"), wheel_bytes("other", "2.0"))])
    cli(index, "add", "pypi", up.url, "--ttl", "300", "--cooldown-days", "0")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pinned\nsynced==1.0 ; python_version >= '3'\nOther>=1\n")
    out = cli(index, "sync", "-r", str(requirements), "--all-files")
    assert "synced: 1 published" in out and "other: 1 published" in out
    # Every file and sidecar is in storage, verified, and marked: an air-gapped index.
    storage = open_storage(index.settings.storage_url)
    with index.db.read() as s:
        rows = s.scalars(select(MirrorFile)).all()
        assert {r.filename for r in rows} == {name, wheel_name("other", "2.0")}
        assert all(r.cached for r in rows)
        synced = next(r for r in rows if r.filename == name)
        assert synced.metadata_cached
        for r in rows:
            assert storage.exists(blob_key(r.sha256))
        digests = s.scalars(select(File.md5_digest)).all()
        assert all(digests)
    storage.close()
    assert up.gets(name) == 1
    # The pages are served without asking upstream again.
    assert len(index.client.get("/simple/synced/", headers={"accept": JSON}).json()["files"]) == 1
    assert up.page_gets("synced") == 1

    listed = json.loads(run_cli(index, "mirror", "list", "--json").stdout)
    assert listed[0]["name"] == "pypi" and listed[0]["projects"] == 2
    assert listed[0]["files"] == {"published": 2, "held": 0, "removed": 0}
    assert listed[0]["cached_bytes"] > 0

    cli(index, "remove", "pypi")
    assert json.loads(run_cli(index, "mirror", "list", "--json").stdout) == []
    with index.db.read() as s:
        tags = [e.tag for e in s.scalars(select(Event).order_by(Event.id))]
    assert "mirror:upstream:add" in tags and "mirror:upstream:remove" in tags


def test_sync_all_files_sends_credentials_to_the_upstreams_hosts_only(
    index: Index, tmp_path: Path
) -> None:
    """A private upstream needs its credentials for files too; a file its page lists on
    another host is fetched without them (a page must not be able to collect them)."""
    creds = ("ci", "s3cret")
    basic = "Basic " + base64.b64encode(b"ci:s3cret").decode()
    ours, theirs = wheel_name("private", "1.0"), wheel_name("private", "2.0")
    meta = metadata_text("private", "1.0").encode()
    with (
        StaticUpstream.start(tmp_path / "private", credentials=creds) as private,
        StaticUpstream.start(tmp_path / "elsewhere") as elsewhere,
    ):
        private.add_project(
            "private", [(ours, wheel_bytes("private", "1.0"))], metadata={ours: meta}
        )
        data = wheel_bytes("private", "2.0")
        sha = elsewhere.add_file(theirs, data)
        private.edit_page(
            "private",
            lambda doc: doc["files"].append(
                {
                    "filename": theirs,
                    "url": elsewhere.file_url(theirs),
                    "hashes": {"sha256": sha},
                    "size": len(data),
                    "upload-time": "2020-01-01T00:00:00.000000Z",
                }
            ),
        )
        cli(index, "add", "corp", private.url, "--username", "ci", "--password", "s3cret")
        out = cli(index, "sync", "private", "--all-files")
        assert "private: 2 published" in out
        assert private.gets(ours) == 1 and elsewhere.gets(theirs) == 1
        assert private.authorization[f"/files/{ours}"] == basic
        assert private.authorization[f"/files/{ours}.metadata"] == basic
        assert elsewhere.authorization[f"/files/{theirs}"] is None
    with index.db.read() as s:
        rows = s.scalars(select(MirrorFile)).all()
        assert {r.filename for r in rows} == {ours, theirs}
        assert all(r.cached for r in rows)
        assert next(r for r in rows if r.filename == ours).metadata_cached


def test_refresh_origin_cooldown_held_and_purge(index: Index, up: StaticUpstream) -> None:
    now = utcnow()
    up.add_project(
        "young", [(wheel_name("young", "1.0"), wheel_bytes("young", "1.0"))], upload_time=now
    )
    cli(index, "add", "pypi", up.url, "--cooldown-days", "7")
    cli(index, "refresh", "young")
    held = json.loads(run_cli(index, "mirror", "held", "--json").stdout)
    assert [h["filename"] for h in held] == [wheel_name("young", "1.0")]
    until = dt.datetime.fromisoformat(str(held[0]["held_until"]))
    assert dt.timedelta(days=6, hours=23) < until - now <= dt.timedelta(days=7, seconds=1)
    assert index.client.get("/simple/young/").status_code == 404

    out = cli(index, "cooldown-exempt", "young", "--version", "1.0", "--reason", "hotfix")
    assert "1 held file(s) published" in out
    assert index.client.get("/simple/young/").status_code == 200
    assert json.loads(run_cli(index, "mirror", "held", "--json").stdout) == []
    listed = json.loads(run_cli(index, "mirror", "exemptions", "--json").stdout)
    assert [(e["project"], e["version"], e["reason"], e["expires_at"]) for e in listed] == [
        ("young", "1.0", "hotfix", None)
    ]
    assert "revoked" in cli(index, "cooldown-revoke", str(listed[0]["id"]))
    (revoked,) = json.loads(run_cli(index, "mirror", "exemptions", "--json").stdout)
    assert dt.datetime.fromisoformat(revoked["expires_at"]) <= utcnow()
    proc = run_cli(index, "mirror", "cooldown-revoke", str(listed[0]["id"]))
    assert proc.returncode == 1 and "no live cooldown exemption" in proc.stderr

    # Purge: out of the index (soft), cache records forgotten, the name kept from upstream.
    cli(index, "purge", "young", "--reason", "malware report")
    with index.db.read() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "young"))
        assert project is not None and project.deletion_id is not None
        assert s.scalar(select(MirrorProject)) is None
        event = s.scalar(select(Event).where(Event.tag == "mirror:project:purge"))
        assert event is not None and "malware report" in event.details["summary"]
    assert index.client.get("/simple/young/").status_code == 404

    # Origin rules: a refusal for an unknown upstream; a reservation for an unborn name.
    proc = run_cli(index, "mirror", "origin", "corp-secret", "--upstream", "nope")
    assert proc.returncode == 1 and "No upstream named 'nope'" in proc.stderr
    assert "served from local uploads only" in cli(index, "origin", "Corp.Secret", "--local")
    with index.db.read() as s:
        rule = s.scalar(select(MirrorOrigin))
        assert rule is not None and (rule.normalized_name, rule.mode) == ("corp-secret", "local")
    proc = run_cli(index, "mirror", "origin", "x", "--local", "--both")
    assert proc.returncode == 1


def test_upstream_settings_from_toml_and_environment(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "stockade.toml").write_text(
        '[[upstream]]\nname = "corp"\nurl = "https://corp.example/simple/"\n'
        "ttl_seconds = 60\ncooldown_days = 2.5\npriority = 5\n"
    )
    settings = load_settings(data, environ={})
    assert [(u.name, u.ttl_seconds, u.cooldown_days) for u in settings.upstreams] == [
        ("corp", 60, 2.5)
    ]
    both = load_settings(
        data, environ={"STOCKADE_UPSTREAM_URL": "https://pypi.org/simple/"}
    ).upstreams
    assert [(u.name, u.url) for u in both] == [
        ("upstream", "https://pypi.org/simple/"),
        ("corp", "https://corp.example/simple/"),
    ]
    (data / "stockade.toml").write_text('[[upstream]]\nname = "x"\nurl = "ftp://x/"\n')
    with pytest.raises(ConfigError, match="http"):
        load_settings(data, environ={})
    (data / "stockade.toml").write_text('[[upstream]]\nname = "x"\nurl = "https://x/"\nbad = 1\n')
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings(data, environ={})


def test_the_job_rechecks_cached_projects_and_follows_upstream(
    index: Index, up: StaticUpstream
) -> None:
    # The upstream comes from the data folder's settings, as the job's process reads them.
    (index.settings.data_dir / "stockade.toml").write_text(
        f'[[upstream]]\nname = "corp"\nurl = "{up.url}"\nttl_seconds = 3600\n'
    )
    files = [(wheel_name("watched", v), wheel_bytes("watched", v)) for v in ("1.0", "2.0")]
    up.add_project("watched", files)
    up.add_project("quiet", [(wheel_name("quiet", "1.0"), wheel_bytes("quiet", "1.0"))])
    cli(index, "sync", "watched", "quiet")
    up.edit_page("watched", lambda doc: doc["files"].pop())  # 2.0 removed upstream
    # Checked within the period: the job leaves it alone.
    result = run_cli(index, "jobs", "run", "mirror-refresh")
    assert result.returncode == 0, result.stderr
    assert "0 cached project(s) re-checked" in result.stderr.replace("\n", " ")
    assert up.page_gets("watched") == 1
    with index.db.write() as s:
        for mp in s.scalars(select(MirrorProject)):
            mp.checked_at = utcnow() - dt.timedelta(days=2)
    result = run_cli(index, "jobs", "run", "mirror-refresh")
    assert result.returncode == 0, result.stderr
    assert "watched: followed upstream" in result.stdout
    assert "quiet" not in result.stdout  # re-checked, nothing changed
    assert "2 cached project(s) re-checked (0 failed)" in result.stderr.replace("\n", " ")
    page = index.client.get("/simple/watched/", headers={"accept": JSON}).json()
    assert [f["filename"] for f in page["files"]] == [wheel_name("watched", "1.0")]


def test_the_project_list_is_imported_into_the_root(
    index: Index, up: StaticUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("stockade.mirror.pages.LIST_CHECK", 0.1)
    for name in ("alpha", "Beta.Two", "delta", "gamma"):
        up.add_project(name, [(wheel_name(name, "1.0"), wheel_bytes(name, "1.0"))])
    # "gamma" is ours: listed once, as ours.
    assert index.upload(wheel_bytes("gamma", "9.0"), wheel_name("gamma", "9.0")).status_code == 200

    def root() -> list[str]:
        doc = index.client.get("/simple/", headers={"accept": JSON}).json()
        return [p["name"] for p in doc["projects"]]

    assert root() == ["gamma"]
    cli(index, "add", "pypi", up.url)
    assert "pypi: project list: 4 added, 0 removed" in cli(index, "sync", "--project-list")
    wait_for_names = time.monotonic() + 10
    while root() != ["alpha", "Beta.Two", "delta", "gamma"]:
        assert time.monotonic() < wait_for_names, root()
        time.sleep(0.1)
    # Listing asks no project page upstream; a listed name is fetched on first request.
    assert up.page_gets("alpha") == 0
    assert index.client.get("/simple/alpha/").status_code == 200
    # Again: only what changed upstream.
    up.remove_project("delta")
    assert "0 added, 1 removed" in cli(index, "sync", "--project-list")
    deadline = time.monotonic() + 10
    while "delta" in root():
        assert time.monotonic() < deadline
        time.sleep(0.1)
