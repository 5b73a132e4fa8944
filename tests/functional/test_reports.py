"""Malware reports: the web form, the token API, the automatic quarantine by trusted reporters
(both rules and the cases that must not quarantine), and the administrators' queue."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage

import httpx
from sqlalchemy import select, update
from starlette.testclient import TestClient

from stockade.abuse.models import Report
from stockade.abuse.reports import REPORTS_PER_USER
from stockade.accounts.models import User
from stockade.db.ratelimit import RateLimitHit
from stockade.events.models import Event
from stockade.index.models import Project
from stockade.oidc.publishers import GitHubPublisherSpec
from support.attestations import publisher_token
from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client

EVIDENCE = "setup.py posts os.environ to http://203.0.113.7/collect on install (lines 12-20)."


def create_project(index: Index, name: str = "demo", owner: str = "alice") -> None:
    r = index.upload(wheel_bytes(name, "1.0"), wheel_name(name, "1.0"), token=index.token(owner))
    assert r.status_code == 200, r.text


def age_project(index: Index, name: str, days: int) -> None:
    with index.db.write() as s:
        s.execute(
            update(Project)
            .where(Project.normalized_name == name)
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days))
        )


def trust(index: Index, username: str) -> None:
    """Mark an account trusted the way an administrator does: the admin user page's form."""
    index.user("root", admin=True)
    index.user(username)
    admin = login_client(index, "root")
    csrf = csrf_from(admin, f"/admin/users/{username}/")
    r = admin.post(
        f"/admin/users/{username}/trusted-reporter/",
        data={"csrf_token": csrf, "trusted": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "Trusted reporter: <strong>yes</strong>" in admin.get(f"/admin/users/{username}/").text


def api_report(
    index: Index, reporter: str, project: str = "demo", **extra: object
) -> httpx.Response:
    body = {"project": project, "reason": "credential stealer", "evidence": EVIDENCE, **extra}
    headers = {"Authorization": f"Bearer {index.token(reporter)}"}
    return index.client.post("/api/reports", json=body, headers=headers)


def status(index: Index, name: str = "demo") -> tuple[str, str | None]:
    with index.db.read() as s:
        p = s.scalar(select(Project).where(Project.normalized_name == name))
        assert p is not None
        return p.status, p.status_reason


def tags(index: Index) -> list[str]:
    with index.db.read() as s:
        return list(s.scalars(select(Event.tag).order_by(Event.id)))


def mail(index: Index) -> list[EmailMessage]:
    folder = index.settings.data_dir / "outbox"
    if not folder.exists():
        return []
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(folder.glob("*.eml"))
    ]


def report_via_form(client: TestClient, project: str = "demo", **fields: str) -> httpx.Response:
    csrf = csrf_from(client, f"/project/{project}/report/")
    data = {"csrf_token": csrf, "reason": "typosquat with a payload", "evidence": EVIDENCE}
    data.update(fields)
    return client.post(f"/project/{project}/report/", data=data, follow_redirects=False)


def test_a_logged_in_user_reports_a_project_from_its_page(index: Index) -> None:
    create_project(index)
    assert "/project/demo/report/" in index.client.get("/project/demo/").text
    # Anonymous visitors are sent to log in first.
    r = index.client.get("/project/demo/report/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/account/login/")

    bob = login_client(index, "bob")
    form = bob.get("/project/demo/report/")
    assert form.status_code == 200
    assert '<option value="1.0">1.0</option>' in form.text
    r = report_via_form(bob, version="1.0")
    assert r.status_code == 200, r.text
    assert "Your report on demo was received" in r.text
    with index.db.read() as s:
        [report] = s.scalars(select(Report)).all()
        assert (report.version, report.via, report.status) == ("1.0", "web", "open")
        assert report.evidence == EVIDENCE
        event = s.scalar(select(Event).where(Event.tag == "report:file"))
        assert event is not None
        assert event.details["report_id"] == report.id
        assert event.details["trusted_reporter"] is False
    # One untrusted reporter never quarantines, even on a brand-new project.
    assert status(index) == ("active", None)
    # The report is in the reporter's history, not in the project's: owners never learn who.
    assert "report:file" in bob.get("/manage/account/history/").text
    owner_view = login_client(index, "alice").get("/manage/project/demo/history/")
    assert owner_view.status_code == 200
    assert "report:file" not in owner_view.text


def test_the_form_refuses_bad_input_with_the_rule(index: Index) -> None:
    create_project(index)
    bob = login_client(index, "bob")
    r = report_via_form(bob, evidence="  ")
    assert r.status_code == 422
    assert "The evidence is required." in r.text
    r = report_via_form(bob, version="9.9")
    assert r.status_code == 404
    assert "Project &#39;demo&#39; has no release &#39;9.9&#39;." in r.text
    assert bob.get("/project/nope/report/").status_code == 404
    assert report_via_form(bob).status_code == 200
    r = report_via_form(bob)
    assert r.status_code == 409
    assert "You already have an open report on project" in r.text


def test_the_api_files_reports_with_a_token(index: Index) -> None:
    create_project(index)
    r = api_report(index, "bob", version="1.0")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body == {"id": body["id"], "project": "demo", "quarantined": False}
    # HTTP Basic with __token__ works as it does for uploads.
    r = index.client.post(
        "/api/reports/",
        json={"project": "Demo", "reason": "miner", "evidence": EVIDENCE},
        auth=("__token__", index.token("carol")),
    )
    assert r.status_code == 201, r.text
    with index.db.read() as s:
        reports = s.execute(
            select(User.username, Report.version, Report.via)
            .join(User, User.id == Report.reporter_id)
            .order_by(Report.id)
        ).all()
    assert [tuple(r) for r in reports] == [("bob", "1.0", "api"), ("carol", None, "api")]


BAD_BODIES = [
    (b"{not json", 400, "The request body is not JSON."),
    (b'["demo"]', 400, "The body must be a JSON object."),
    (b'{"project": "demo", "evidence": "x"}', 422, "The reason is required."),
    (b'{"project": "demo", "reason": 5, "evidence": "x"}', 422, "The reason must be a string."),
    (b'{"project": "demo", "reason": "r", "evidence": "x", "url": 1}', 422, "Unknown field"),
    (b'{"project": "nope", "reason": "r", "evidence": "x"}', 404, "no project named 'nope'"),
    (
        b'{"project": "demo", "version": "2.0", "reason": "r", "evidence": "x"}',
        404,
        "has no release '2.0'",
    ),
]


def test_the_api_refuses_bad_input(index: Index) -> None:
    create_project(index)
    headers = {"Authorization": f"Bearer {index.token('bob')}", "Content-Type": "application/json"}
    for body, code, message in BAD_BODIES:
        r = index.client.post("/api/reports", content=body, headers=headers)
        assert r.status_code == code, (body, r.text)
        assert message in r.json()["message"], body
    with index.db.read() as s:
        assert s.scalar(select(Report)) is None


def test_the_api_needs_a_valid_token(index: Index) -> None:
    create_project(index)
    r = index.client.post("/api/reports", json={"project": "demo"})
    assert r.status_code == 401
    assert "API token" in r.json()["message"]
    r = index.client.post(
        "/api/reports", json={"project": "demo"}, headers={"Authorization": "Bearer pypi-nope"}
    )
    assert r.status_code == 403
    assert r.json()["message"].startswith("Invalid API Token")


def test_reports_are_rate_limited_per_user(index: Index) -> None:
    create_project(index)
    bob = index.user("bob")
    assert api_report(index, "bob").status_code == 201
    # Bob has used up his hour (the counter is the one every worker shares).
    with index.db.write() as s:
        s.execute(
            update(RateLimitHit)
            .where(RateLimitHit.key == f"report:user:{bob.id}")
            .values(count=REPORTS_PER_USER.count)
        )
    r = api_report(index, "bob")
    assert r.status_code == 429
    assert "Too many attempts" in r.json()["message"]
    assert int(r.headers["retry-after"]) > 0


def test_a_trusted_reporter_quarantines_a_new_project_at_once(index: Index) -> None:
    create_project(index)
    trust(index, "carol")
    assert index.client.get("/simple/demo/").status_code == 200
    r = api_report(index, "carol")
    assert r.status_code == 201
    assert r.json()["quarantined"] is True
    assert status(index) == ("quarantined", "auto:trusted-reporter")
    # Installers no longer see it: no files, PEP 792 status, not in the root list.
    page = index.client.get(
        "/simple/demo/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    assert page.json()["files"] == []
    assert page.json()["project-status"]["status"] == "quarantined"
    assert "demo" not in index.client.get("/simple/").text
    assert index.client.get("/project/demo/").status_code == 404
    with index.db.read() as s:
        event = s.scalar(select(Event).where(Event.tag == "project:quarantine"))
        assert event is not None
        assert event.details["reason"] == "auto:trusted-reporter"
        assert event.actor_id is None
    assert "account:trusted-reporter:grant" in tags(index)
    [notice] = [m for m in mail(index) if "quarantined" in m["Subject"]]
    assert notice["To"] == "alice@example.test"
    assert "auto:trusted-reporter" in notice.get_content()


def test_a_trusted_reporter_alone_does_not_quarantine_an_old_project(index: Index) -> None:
    create_project(index)
    age_project(index, "demo", days=3)
    trust(index, "carol")
    r = api_report(index, "carol")
    assert r.json()["quarantined"] is False
    assert status(index) == ("active", None)
    # A second reporter (untrusted) makes two, one of them trusted: quarantined.
    r = api_report(index, "bob")
    assert r.json()["quarantined"] is True
    assert status(index) == ("quarantined", "auto:trusted-reporter")


def test_two_untrusted_reporters_do_not_quarantine(index: Index) -> None:
    create_project(index)
    assert api_report(index, "bob").json()["quarantined"] is False
    assert api_report(index, "dave").json()["quarantined"] is False
    assert status(index) == ("active", None)
    # Once an administrator trusts one of them, the next report tips it over.
    trust(index, "dave")
    age_project(index, "demo", days=3)
    assert api_report(index, "erin").json()["quarantined"] is True


def test_the_admin_queue_groups_reports_and_acts_on_them(index: Index) -> None:
    create_project(index)
    create_project(index, "other-thing", owner="olga")
    trust(index, "carol")
    age_project(index, "demo", days=10)
    assert api_report(index, "carol").status_code == 201
    assert api_report(index, "bob", project="other-thing").status_code == 201

    assert login_client(index, "bob").get("/admin/reports/").status_code == 403
    admin = login_client(index, "root")
    page = admin.get("/admin/reports/").text
    assert "<h1>Malware reports</h1>" in page
    assert "owners: alice" in page
    assert "owners: olga" in page
    assert "Created 10 days ago" in page
    assert 'carol <span class="badge">trusted</span>' in page
    assert "1 open report</strong>" in page

    def act(path: str, **fields: str) -> httpx.Response:
        csrf = csrf_from(admin, "/admin/reports/")
        return admin.post(path, data={"csrf_token": csrf, **fields}, follow_redirects=False)

    r = act("/admin/reports/demo/quarantine/", reason="steals tokens")
    assert r.status_code == 303
    assert status(index) == ("quarantined", "steals tokens")
    assert "Project demo is quarantined." in admin.get(r.headers["location"]).text
    r = act("/admin/reports/demo/quarantine/")
    assert r.status_code == 400
    assert "already quarantined" in r.text

    r = act("/admin/reports/demo/clear/")
    assert r.status_code == 303
    assert status(index) == ("active", None)
    r = act("/admin/reports/other-thing/dismiss/")
    assert r.status_code == 303
    with index.db.read() as s:
        resolutions = sorted(r or "" for r in s.scalars(select(Report.resolution)))
    assert resolutions == ["cleared", "dismissed"]
    assert "No open reports and no quarantined projects." in admin.get("/admin/reports/").text
    assert [m["Subject"] for m in mail(index)] == [
        "[stockade] Your project demo has been quarantined",
        "[stockade] Your project demo is no longer quarantined",
    ]
    assert {"project:quarantine", "project:quarantine:clear", "report:resolve"} <= set(tags(index))


def test_removing_deletes_the_project_and_prohibits_its_name(index: Index) -> None:
    create_project(index)
    assert api_report(index, "bob").status_code == 201
    index.user("root", admin=True)
    admin = login_client(index, "root")
    csrf = csrf_from(admin, "/admin/reports/")
    r = admin.post("/admin/reports/demo/remove/", data={"csrf_token": csrf, "confirm": "dmeo"})
    assert r.status_code == 400
    assert "Type the project&#39;s name (demo) to confirm" in r.text
    r = admin.post(
        "/admin/reports/demo/remove/",
        data={"csrf_token": csrf, "confirm": "demo", "reason": "malware"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert index.client.get("/simple/demo/").status_code == 404
    assert "<code>demo</code>" in admin.get("/admin/prohibited/").text
    assert {"project:delete", "name:prohibit", "project:remove"} <= set(tags(index))
    # Nobody, not even the former owner, can bring the name back by uploading.
    r = index.upload(wheel_bytes("demo", "2.0"), wheel_name("demo", "2.0"), token=index.token())
    assert r.status_code == 400
    assert "isn't allowed" in r.text


def test_a_trusted_publishers_token_cannot_file_reports(index: Index) -> None:
    spec = GitHubPublisherSpec(
        owner="octo", owner_id="4242", repository="quillpod", workflow="release.yml"
    )
    token = publisher_token(index, spec, "quillpod")
    r = index.client.post(
        "/api/reports",
        json={"project": "quillpod", "reason": "credential stealer", "evidence": EVIDENCE},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403
    assert r.json()["message"] == (
        "Invalid API Token: trusted-publisher tokens cannot file reports."
    )
    with index.db.read() as session:
        assert session.scalar(select(Report.id)) is None
