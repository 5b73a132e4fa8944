"""Quarantine and the name rules: what a quarantine hides and freezes (for every worker, within a
second), who still sees the project, clearing it; names refused at project creation; and the
`stockade admin` commands of the abuse domain."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from stockade.accounts.models import User
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import Project, RoleInvitation
from stockade.index.roles import NotAllowed, add_role, invite, leave_project
from stockade.web.app import create_app
from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client, run_cli

JSON = "application/vnd.pypi.simple.v1+json"


def upload(index: Index, name: str, version: str = "1.0", owner: str = "alice") -> httpx.Response:
    return index.upload(
        wheel_bytes(name, version), wheel_name(name, version), token=index.token(owner)
    )


def admin_post(index: Index, path: str, **fields: str) -> httpx.Response:
    index.user("root", admin=True)
    admin = login_client(index, "root")
    csrf = csrf_from(admin, "/admin/")
    return admin.post(path, data={"csrf_token": csrf, **fields}, follow_redirects=False)


def quarantine(index: Index, name: str = "demo", reason: str = "steals tokens") -> None:
    r = admin_post(index, f"/admin/reports/{name}/quarantine/", reason=reason)
    assert r.status_code == 303, r.text


def test_quarantine_hides_the_project_from_another_worker_within_a_second(index: Index) -> None:
    assert upload(index, "demo").status_code == 200
    other = create_app(index.settings)  # a second worker on the same database and storage
    with TestClient(other) as worker:
        page = worker.get("/simple/demo/", headers={"Accept": JSON}).json()
        [file] = page["files"]
        file_url = file["url"].replace("../..", "")
        assert worker.get(file_url).status_code == 200
        assert "demo" in worker.get("/simple/").text
        assert worker.get("/project/demo/").status_code == 200

        quarantine(index)
        start = time.monotonic()
        while True:
            page = worker.get("/simple/demo/", headers={"Accept": JSON}).json()
            hidden = (
                page["files"] == []
                and "demo" not in worker.get("/simple/").text
                and worker.get(file_url).status_code == 404
            )
            elapsed = time.monotonic() - start
            if hidden or elapsed > 3:
                break
            time.sleep(0.02)
        assert hidden, page
        assert elapsed < 1.0, f"took {elapsed:.2f}s"
        assert page["project-status"] == {"status": "quarantined", "reason": "steals tokens"}
        assert worker.get("/project/demo/").status_code == 404
        assert worker.get("/pypi/demo/json").status_code == 404
    other.context.db.dispose()


def test_only_owners_and_admins_see_a_quarantined_projects_page(index: Index) -> None:
    assert upload(index, "demo").status_code == 200
    index.user("bob")
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        bob = s.scalar(select(User).where(User.username == "bob"))
        assert project is not None and bob is not None
        add_role(s, project=project, user=bob, role_name="Maintainer", origin=CLI)
    quarantine(index)
    assert index.client.get("/project/demo/").status_code == 404
    assert login_client(index, "bob").get("/project/demo/").status_code == 404  # a maintainer
    assert login_client(index, "carol").get("/project/demo/").status_code == 404
    owner = login_client(index, "alice").get("/project/demo/")
    assert owner.status_code == 200
    assert '<span class="badge danger">quarantined</span>' in owner.text
    assert "Reason: steals tokens" in owner.text
    admin = login_client(index, "root")
    page = admin.get("/project/demo/1.0/")
    assert page.status_code == 200
    assert 'href="/admin/reports/"' in page.text
    # Quarantined without any report (an administrator's decision): the queue still lists it.
    queue = admin.get("/admin/reports/").text
    assert "0 open reports</strong>" in queue
    assert "/admin/reports/demo/clear/" in queue


def test_a_quarantine_freezes_uploads_and_roles_until_cleared(index: Index) -> None:
    assert upload(index, "demo").status_code == 200
    index.user("bob")
    quarantine(index)
    r = upload(index, "demo", "2.0")
    assert r.status_code == 403
    assert "Project 'demo' is quarantined: uploads and ownership changes are refused" in r.text

    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        alice = s.scalar(select(User).where(User.username == "alice"))
        assert project is not None and alice is not None
        with pytest.raises(NotAllowed, match="is quarantined"):
            invite(s, actor=alice, project=project, username="bob", role_name="Owner", origin=CLI)
        with pytest.raises(NotAllowed, match="is quarantined"):
            leave_project(s, user=alice, project=project, origin=CLI)
    with index.db.read() as s:
        assert s.scalar(select(RoleInvitation)) is None
    # The owners' roles page answers with the same rule.
    alice_web = login_client(index, "alice")
    csrf = csrf_from(alice_web, "/manage/project/demo/roles/")
    r = alice_web.post(
        "/manage/project/demo/roles/invite/",
        data={"csrf_token": csrf, "username": "bob", "role_name": "Maintainer"},
    )
    assert "is quarantined" in r.text

    r = admin_post(index, "/admin/reports/demo/clear/")
    assert r.status_code == 303
    assert upload(index, "demo", "2.0").status_code == 200
    assert index.client.get("/project/demo/").status_code == 200
    with index.db.read() as s:
        tags = list(s.scalars(select(Event.tag).where(Event.project_id == project.id)))
    assert "project:quarantine" in tags
    assert "project:quarantine:clear" in tags


SQUATS = [
    ("reqeusts", "too similar to an existing or popular project: 'requests' (two letters swapped)"),
    ("requets", "'requests' (one letter left out)"),
    ("python-requests", "'requests' (the popular name with 'python-' added)"),
    ("djang0", "'django' (the same name once case, separators and look-alike characters"),
    ("urlib3", "'urllib3' (a doubled letter made single)"),
    ("asyncio", "'asyncio' is the name of a Python standard-library module"),
]


def test_squatting_names_are_refused_at_creation(index: Index) -> None:
    for name, message in SQUATS:
        r = upload(index, name)
        assert r.status_code == 400, name
        assert message in r.text
        assert r.text.rstrip().endswith("Choose a different name.")
    with index.db.read() as s:
        assert s.scalar(select(Project)) is None


def test_names_against_local_projects_prohibited_names_and_admins(index: Index) -> None:
    assert upload(index, "acme-tools").status_code == 200
    assert upload(index, "flask2").status_code == 200  # a legitimate name
    r = upload(index, "Acme_T00ls", owner="bob")
    assert r.status_code == 400
    assert "too similar to an existing project: 'acme-tools'" in r.text

    r = admin_post(index, "/admin/prohibited/", name="evil-pkg", reason="known malware family")
    assert r.status_code == 303
    for attempt in ("evil_pkg", "Evi1.Pkg"):
        r = upload(index, attempt, owner="bob")
        assert r.status_code == 400
        assert (
            "an administrator has prohibited the name 'evil-pkg' (known malware family)" in r.text
        )
    r = admin_post(index, "/admin/prohibited/", name="evil pkg")
    assert r.status_code == 400
    assert "is not a valid project name" in r.text

    # Prohibiting an existing project's name does not touch the project.
    assert admin_post(index, "/admin/prohibited/", name="acme-tools").status_code == 303
    assert upload(index, "acme-tools", "2.0").status_code == 200

    # Administrators may create names the similarity rules refuse (not prohibited ones).
    assert upload(index, "reqeusts", owner="root").status_code == 200
    assert upload(index, "evil-pkg", owner="root").status_code == 400
    assert admin_post(index, "/admin/prohibited/evil-pkg/remove/").status_code == 303
    assert upload(index, "evil-pkg", owner="bob").status_code == 200
    with index.db.read() as s:
        assert (
            s.scalar(
                select(Project.ultranormalized_name).where(Project.normalized_name == "acme-tools")
            )
            == "acmet001s"
        )
        tags = list(s.scalars(select(Event.tag)))
    assert tags.count("name:prohibit") == 2
    assert tags.count("name:unprohibit") == 1


def test_the_abuse_cli(index: Index) -> None:
    assert upload(index, "demo").status_code == 200
    index.user("carol")

    def ok(*args: str) -> str:
        proc = run_cli(index, "admin", *args)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout + proc.stderr

    assert "carol is now a trusted reporter" in ok("trust-reporter", "carol")
    assert "prohibited evil-thing" in ok("prohibit", "Evil_Thing", "--reason", "malware")
    assert "quarantined demo" in ok("quarantine", "demo", "--reason", "under review")
    assert index.client.get("/simple/demo/", headers={"Accept": JSON}).json()["files"] == []
    r = index.client.post(
        "/api/reports",
        json={"project": "demo", "reason": "stealer", "evidence": "payload.py line 3"},
        headers={"Authorization": f"Bearer {index.token('carol')}"},
    )
    assert r.status_code == 201
    [entry] = json.loads(ok("reports", "--json"))
    assert entry["project"] == "demo"
    assert entry["status"] == "quarantined"
    assert entry["owners"] == ["alice"]
    assert [(x["reporter"], x["trusted"], x["reason"]) for x in entry["reports"]] == [
        ("carol", True, "stealer")
    ]
    assert "cleared demo" in ok("clear", "demo")
    with index.db.read() as s:
        assert s.scalar(select(Project.status).where(Project.normalized_name == "demo")) == "active"
    assert "carol is now not a trusted reporter" in ok("trust-reporter", "carol", "--untrust")
    proc = run_cli(index, "admin", "clear", "nope")
    assert proc.returncode == 1
    assert "no project named 'nope'" in proc.stderr
    assert "removed demo; its name is prohibited" in ok("remove", "demo", "--yes")
    with index.db.read() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None
        assert project.deletion_id is not None
    with index.db.read() as s:
        tags = list(s.scalars(select(Event.tag).order_by(Event.id)))
    for tag in (
        "account:trusted-reporter:grant",
        "name:prohibit",
        "project:quarantine",
        "report:file",
        "project:quarantine:clear",
        "report:resolve",
        "account:trusted-reporter:revoke",
        "project:remove",
    ):
        assert tag in tags
