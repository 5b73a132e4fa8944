"""The admin's forms on ``/admin/mirror/``: each changes what the CLI changes, through the same
services, with the admin as the actor and the request's address recorded; bad input shows the
page again with the reason and a 4xx; a request without the CSRF token, or from someone who is
not an admin, changes nothing.

The upstream is a static PEP 691/503 tree served over HTTP on loopback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from stockade.accounts.models import User
from stockade.db.base import utcnow
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import Project
from stockade.mirror.models import (
    MirrorCooldownExemption,
    MirrorOrigin,
    MirrorProject,
    MirrorUpstream,
    PolicyView,
)
from stockade.mirror.services import add_upstream
from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client
from support.mirror_upstream import StaticUpstream

JSON = "application/vnd.pypi.simple.v1+json"
PAGE = "/admin/mirror/"


@pytest.fixture
def up(tmp_path: Path) -> Iterator[StaticUpstream]:
    with StaticUpstream.start(tmp_path / "upstream") as upstream:
        yield upstream


class Admin:
    """A logged-in admin posting the page's forms with the page's CSRF token."""

    def __init__(self, index: Index) -> None:
        index.user("root", admin=True)
        self.client: TestClient = login_client(index, "root")
        self.token = csrf_from(self.client, PAGE)
        with index.db.read() as s:
            self.user_id = s.scalar(select(User.id).where(User.username == "root"))

    def post(self, path: str, **fields: str) -> httpx.Response:
        return self.client.post(
            path, data={"csrf_token": self.token, **fields}, follow_redirects=False
        )

    def done(self, path: str, **fields: str) -> str:
        """Post a form that must succeed; the text of the page it redirects to."""
        r = self.post(path, **fields)
        assert r.status_code == 303, r.text
        assert r.headers["location"].startswith(PAGE + "?done=")
        page = self.client.get(r.headers["location"])
        assert page.status_code == 200
        return page.text


@pytest.fixture
def admin(index: Index) -> Admin:
    return Admin(index)


def _add(index: Index, up: StaticUpstream, **kwargs: Any) -> None:
    with index.db.write() as s:
        add_upstream(s, "pypi", up.url, origin=CLI, actor_id=None, **kwargs)


def _project(up: StaticUpstream, name: str, version: str, when: dt.datetime | None = None) -> None:
    up.add_project(
        name, [(wheel_name(name, version), wheel_bytes(name, version))], upload_time=when
    )


def _last_event(index: Index, tag: str) -> Event:
    with index.db.read() as s:
        event = s.scalar(select(Event).where(Event.tag == tag).order_by(Event.id.desc()))
        assert event is not None, f"no {tag} event"
        s.expunge(event)
    return event


def _refused(r: httpx.Response, status: int, message: str) -> None:
    """The page again, with the reason in an alert, and the status."""
    assert r.status_code == status, r.text
    assert 'role="alert"' in r.text and message in r.text, r.text
    assert "<h1>Mirror</h1>" in r.text


def test_an_admin_adds_changes_and_removes_an_upstream(
    index: Index, admin: Admin, up: StaticUpstream
) -> None:
    text = admin.done(
        PAGE + "upstreams/",
        name="corp",
        url=up.url,
        ttl="60",
        cooldown_days="2.5",
        priority="3",
        username="ci",
        password="s3cret",
    )
    assert "Upstream corp saved." in text and up.url in text and "2.5 day(s)" in text
    with index.db.read() as s:
        row = s.scalar(select(MirrorUpstream).where(MirrorUpstream.name == "corp"))
        assert row is not None
        assert (row.ttl_seconds, row.cooldown_days, row.priority) == (60, 2.5, 3)
        assert (row.username, row.password) == ("ci", "s3cret")
    event = _last_event(index, "mirror:upstream:add")
    assert event.actor_id == admin.user_id and event.ip_address == "testclient"
    assert "s3cret" not in text  # the password is never shown

    # The same name again: its settings are replaced (a change, not a second upstream).
    admin.done(PAGE + "upstreams/", name="corp", url=up.url, ttl="0")
    with index.db.read() as s:
        rows = s.scalars(select(MirrorUpstream)).all()
        assert [(r.name, r.ttl_seconds, r.cooldown_days, r.username) for r in rows] == [
            ("corp", 0, 0.0, None)
        ]
    assert _last_event(index, "mirror:upstream:change").actor_id == admin.user_id

    text = admin.done(PAGE + "upstreams/corp/remove/")
    assert "Upstream corp removed." in text
    with index.db.read() as s:
        assert s.scalar(select(MirrorUpstream)) is None
    assert _last_event(index, "mirror:upstream:remove").actor_id == admin.user_id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "corp", "url": "ftp://example.org/simple/"}, "must start with http"),
        ({"name": "corp", "url": ""}, "must start with http"),
        ({"name": "", "url": "https://example.org/simple/"}, "Invalid upstream name"),
        ({"name": "c o r p", "url": "https://example.org/simple/"}, "Invalid upstream name"),
        ({"name": "corp", "url": "https://x.org/", "ttl": "soon"}, "must be a number"),
        ({"name": "corp", "url": "https://x.org/", "ttl": "1.5"}, "whole number"),
        ({"name": "corp", "url": "https://x.org/", "cooldown_days": "-1"}, "zero or more"),
        ({"name": "corp", "url": "https://x.org/", "cooldown_days": "nan"}, "zero or more"),
        ({"name": "corp", "url": "https://x.org/", "files_url": "x"}, "files URL"),
    ],
)
def test_a_bad_upstream_is_refused_with_the_form_kept(
    index: Index, admin: Admin, fields: dict[str, str], message: str
) -> None:
    r = admin.post(PAGE + "upstreams/", **fields)
    _refused(r, 400, message)
    assert 'id="upstream-error"' in r.text
    if fields["name"] == "corp":
        assert 'value="corp"' in r.text  # what was typed stays in the form
    with index.db.read() as s:
        assert s.scalar(select(MirrorUpstream)) is None
        assert s.scalar(select(Event).where(Event.tag.like("mirror:%"))) is None


def test_removing_an_unknown_upstream_says_so(admin: Admin) -> None:
    _refused(admin.post(PAGE + "upstreams/nope/remove/"), 404, "No upstream named")


def test_refresh_now_fetches_the_page_whatever_its_ttl(
    index: Index, admin: Admin, up: StaticUpstream
) -> None:
    _refused(admin.post(PAGE + "refresh/", project="demo"), 409, "No upstream is configured")
    _add(index, up, ttl_seconds=3600)
    _project(up, "demo", "1.0")
    assert index.client.get("/simple/demo/").status_code == 200
    assert up.page_gets("demo") == 1
    _project(up, "demo", "2.0")  # a new release upstream, inside the TTL
    text = admin.done(PAGE + "refresh/", project="Demo")
    assert "demo is refreshed from upstream." in text
    assert up.page_gets("demo") == 2
    page = index.client.get("/simple/demo/", headers={"accept": JSON}).json()
    assert [f["filename"] for f in page["files"]] == [wheel_name("demo", "2.0")]

    assert "nothing-here is on no upstream." in admin.done(
        PAGE + "refresh/", project="nothing-here"
    )
    _refused(admin.post(PAGE + "refresh/", project=""), 400, "is not a project name")
    _refused(admin.post(PAGE + "refresh/", project="../etc"), 400, "is not a project name")
    up.set_page_mode("broken", "error")
    _refused(admin.post(PAGE + "refresh/", project="broken"), 502, "The upstream failed")


def test_origin_rules_reserve_switch_and_go(index: Index, admin: Admin, up: StaticUpstream) -> None:
    _add(index, up)
    # Reserving a name nobody has yet: the upstream's project is never served under it.
    _project(up, "corp-secret", "1.0")
    text = admin.done(PAGE + "origins/", project="Corp.Secret", mode="local")
    assert "The origin rule of corp-secret is set." in text
    assert "corp-secret is served from local uploads only" in text
    event = _last_event(index, "mirror:origin:set")
    assert event.actor_id == admin.user_id and event.ip_address == "testclient"
    assert index.client.get("/simple/corp-secret/").status_code == 404
    assert up.page_gets("corp-secret") == 0

    _refused(
        admin.post(PAGE + "origins/", project="corp-secret", mode="upstream", upstream="nope"),
        404,
        "No upstream named",
    )
    _refused(
        admin.post(PAGE + "origins/", project="corp-secret", mode="upstream"),
        400,
        "names its upstream",
    )
    _refused(admin.post(PAGE + "origins/", project="corp-secret", mode="x"), 400, "Choose")
    _refused(admin.post(PAGE + "origins/", project="", mode="local"), 400, "not a project name")
    with index.db.read() as s:
        rules = s.scalars(select(MirrorOrigin)).all()
        assert [(r.normalized_name, r.mode) for r in rules] == [("corp-secret", "local")]

    # Upstream only: the upstream's files are served at once.
    admin.done(PAGE + "origins/", project="corp-secret", mode="upstream", upstream="pypi")
    assert index.client.get("/simple/corp-secret/").status_code == 200

    text = admin.done(PAGE + "origins/corp-secret/remove/")
    assert "corp-secret follows the default origin rule again." in text
    with index.db.read() as s:
        assert s.scalar(select(MirrorOrigin)) is None
    assert _last_event(index, "mirror:origin:remove").actor_id == admin.user_id
    _refused(admin.post(PAGE + "origins/corp-secret/remove/"), 404, "no origin rule")


def test_exemptions_let_held_files_through_and_are_revoked(
    index: Index, admin: Admin, up: StaticUpstream
) -> None:
    _add(index, up, cooldown_days=7)
    _project(up, "young", "1.0", when=utcnow())
    assert index.client.get("/simple/young/").status_code == 404
    assert wheel_name("young", "1.0") in admin.client.get(PAGE).text  # held, and until when

    _refused(admin.post(PAGE + "exemptions/", project="young", reason="  "), 400, "needs a reason")
    _refused(
        admin.post(PAGE + "exemptions/", project="young", reason="x", version="not a version"),
        400,
        "is not a version",
    )
    _refused(
        admin.post(PAGE + "exemptions/", project="young", reason="x", days="-2"),
        400,
        "zero or more",
    )
    _refused(
        admin.post(PAGE + "exemptions/", project="young", reason="x", days="0"),
        400,
        "positive number of days",
    )
    with index.db.read() as s:
        assert s.scalar(select(MirrorCooldownExemption)) is None

    text = admin.done(
        PAGE + "exemptions/", project="Young", version="1.0", reason="hotfix", days="3"
    )
    assert "young is let through the cooldown." in text and "hotfix" in text
    assert index.client.get("/simple/young/").status_code == 200
    event = _last_event(index, "mirror:cooldown:exempt")
    assert event.actor_id == admin.user_id and event.ip_address == "testclient"
    with index.db.read() as s:
        exemption = s.scalar(select(MirrorCooldownExemption))
        assert exemption is not None and exemption.version == "1.0"
        assert exemption.expires_at is not None
        assert dt.timedelta(days=2, hours=23) < exemption.expires_at - utcnow()
        exemption_id = exemption.id
    assert f"{PAGE}exemptions/{exemption_id}/revoke/" in text

    text = admin.done(f"{PAGE}exemptions/{exemption_id}/revoke/")
    assert "The exemption of young is revoked." in text
    assert f"{PAGE}exemptions/{exemption_id}/revoke/" not in text  # over: no button
    assert _last_event(index, "mirror:cooldown:revoke").actor_id == admin.user_id
    with index.db.read() as s:
        exemption = s.get(MirrorCooldownExemption, exemption_id)
        assert exemption is not None and exemption.expires_at is not None
        assert exemption.expires_at <= utcnow()
    # A file let through stays published (installers may have it); a new one waits again.
    newer, data = wheel_name("young", "1.1"), wheel_bytes("young", "1.1")
    sha = up.add_file(newer, data)
    up.edit_page(
        "young",
        lambda doc: doc["files"].append(
            {
                "filename": newer,
                "url": f"../../files/{newer}",
                "hashes": {"sha256": sha},
                "upload-time": utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        ),
    )
    admin.done(PAGE + "refresh/", project="young")
    page = index.client.get("/simple/young/", headers={"accept": JSON}).json()
    assert [f["filename"] for f in page["files"]] == [wheel_name("young", "1.0")]
    assert newer in admin.client.get(PAGE).text  # held
    _refused(admin.post(f"{PAGE}exemptions/{exemption_id}/revoke/"), 404, "no live cooldown")


def test_purge_takes_the_upstream_copy_out(index: Index, admin: Admin, up: StaticUpstream) -> None:
    _add(index, up)
    _project(up, "gone", "1.0")
    assert index.client.get("/simple/gone/").status_code == 200
    text = admin.done(PAGE + "purge/", project="Gone", reason="malware report")
    assert "gone is purged from the mirror cache." in text
    with index.db.read() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "gone"))
        assert project is not None and project.deletion_id is not None
        assert s.scalar(select(MirrorProject)) is None
    event = _last_event(index, "mirror:project:purge")
    assert event.actor_id == admin.user_id and "malware report" in event.details["summary"]
    assert index.client.get("/simple/gone/").status_code == 404
    _refused(admin.post(PAGE + "purge/", project="gone"), 404, "Nothing is cached")
    _refused(admin.post(PAGE + "purge/", project=""), 400, "not a project name")


def test_policy_views_are_listed_created_and_removed(index: Index, admin: Admin) -> None:
    text = admin.done(
        PAGE + "views/",
        name="vetted",
        min_age_days="14",
        attested_only="1",
        allow="requests\n\ndjango<5\n",
        deny="evil-pkg",
    )
    assert "Policy view vetted saved." in text
    assert "/views/vetted/simple/" in text
    assert "files at least 14 day(s) old; attested files only" in text
    assert "only requests, django&lt;5; never evil-pkg" in text
    assert _last_event(index, "view:create").actor_id == admin.user_id
    assert index.client.get("/views/vetted/simple/").status_code == 200

    # The vulnerability rule says it checks nothing while no advisory was imported.
    text = admin.done(PAGE + "views/", name="patched", no_known_vulns="1")
    assert "no advisories imported" in text
    with index.db.read() as s:
        assert s.scalar(select(PolicyView.no_known_vulns).where(PolicyView.name == "patched"))
    admin.done(PAGE + "views/patched/remove/")

    _refused(admin.post(PAGE + "views/", name="Bad Name"), 400, "Invalid view name")
    _refused(admin.post(PAGE + "views/", name="v", allow="requests; os_name=='nt'"), 400, "--allow")
    _refused(admin.post(PAGE + "views/", name="v", min_downloads="many"), 400, "must be a number")
    with index.db.read() as s:
        assert [v.name for v in s.scalars(select(PolicyView))] == ["vetted"]

    assert "Policy view vetted removed." in admin.done(PAGE + "views/vetted/remove/")
    with index.db.read() as s:
        assert s.scalar(select(PolicyView)) is None
    _refused(admin.post(PAGE + "views/vetted/remove/"), 404, "No view named")


# Every form, with fields that would change something if the request were admitted.
FORMS = [
    ("upstreams/", {"name": "corp", "url": "https://example.org/simple/"}),
    ("upstreams/pypi/remove/", {}),
    ("refresh/", {"project": "demo"}),
    ("purge/", {"project": "demo"}),
    ("origins/", {"project": "reserved", "mode": "local"}),
    ("origins/held/remove/", {}),
    ("exemptions/", {"project": "demo", "reason": "why not"}),
    ("exemptions/1/revoke/", {}),
    ("views/", {"name": "vetted"}),
    ("views/kept/remove/", {}),
]


def _world(index: Index, up: StaticUpstream) -> dict[str, list[Any]]:
    """An upstream, a cached project, a rule, an exemption and a view, for the forms above to
    change; returns what the mirror's tables hold."""
    _add(index, up)
    _project(up, "demo", "1.0")
    assert index.client.get("/simple/demo/").status_code == 200
    root = login_client(index, "root")
    token = csrf_from(root, PAGE)
    for path, fields in [
        ("origins/", {"project": "held", "mode": "local"}),
        ("exemptions/", {"project": "other", "reason": "seed"}),
        ("views/", {"name": "kept"}),
    ]:
        r = root.post(PAGE + path, data={"csrf_token": token, **fields}, follow_redirects=False)
        assert r.status_code == 303, r.text
    return _mirror_state(index)


def _mirror_state(index: Index) -> dict[str, list[Any]]:
    with index.db.read() as s:
        return {
            "upstreams": [(u.name, u.url) for u in s.scalars(select(MirrorUpstream))],
            "projects": [p.normalized_name for p in s.scalars(select(MirrorProject))],
            "rules": [(r.normalized_name, r.mode) for r in s.scalars(select(MirrorOrigin))],
            "exemptions": [
                (e.id, e.expires_at) for e in s.scalars(select(MirrorCooldownExemption))
            ],
            "views": [v.name for v in s.scalars(select(PolicyView))],
            "deleted": [
                p.normalized_name
                for p in s.scalars(select(Project).where(Project.deletion_id.is_not(None)))
            ],
            "events": [e.id for e in s.scalars(select(Event).where(Event.tag.like("mirror:%")))],
        }


@pytest.mark.parametrize(("path", "fields"), FORMS, ids=[p for p, _ in FORMS])
def test_a_form_without_the_csrf_token_changes_nothing(
    index: Index, up: StaticUpstream, path: str, fields: dict[str, str]
) -> None:
    index.user("root", admin=True)
    before = _world(index, up)
    root = login_client(index, "root")
    for data in (fields, {**fields, "csrf_token": "forged"}):
        r = root.post(PAGE + path, data=data, follow_redirects=False)
        assert r.status_code == 403, r.text
    assert _mirror_state(index) == before


@pytest.mark.parametrize(("path", "fields"), FORMS, ids=[p for p, _ in FORMS])
def test_a_form_from_someone_not_an_admin_changes_nothing(
    index: Index, up: StaticUpstream, path: str, fields: dict[str, str]
) -> None:
    index.user("root", admin=True)
    before = _world(index, up)
    mallory = login_client(index, "mallory")
    token = csrf_from(mallory, "/")
    r = mallory.post(PAGE + path, data={"csrf_token": token, **fields}, follow_redirects=False)
    assert r.status_code == 403
    assert mallory.get(PAGE).status_code == 403
    # Nobody logged in: asked to log in.
    anonymous = TestClient(index.app, base_url="http://testserver")
    r = anonymous.post(PAGE + path, data=fields, follow_redirects=False)
    assert r.status_code in (303, 403)
    assert _mirror_state(index) == before
