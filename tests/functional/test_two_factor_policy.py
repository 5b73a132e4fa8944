"""The 2FA requirement at each policy level (none, critical, the owners' opt-in, all), enforced on
uploads through /legacy/, on the project-management pages and on invitations; the project
settings page; critical pins from the CLI and the admin form; a real twine and uv publish."""

from __future__ import annotations

import contextlib
import html
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from stockade.accounts.models import User
from stockade.accounts.twofactor.factors import enable_totp, totp_of
from stockade.config import Settings, replace
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import Project, Role, RoleInvitation
from stockade.index.project_settings import pin_critical
from stockade.index.roles import add_role
from stockade.index.rules import find_project
from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client, run_cli

SETUP = "Set it up at http://testserver/manage/account/two-factor/"
OWNERS_RULE = "the owners of project 'demo' require 2FA for all maintainers"
CRITICAL_RULE = (
    "'demo' is a critical project, and this index requires two-factor authentication from "
    "every maintainer of a critical project"
)
ALL_RULE = (
    "this index requires two-factor authentication for every upload and every project "
    "management action"
)


@contextlib.contextmanager
def at_level(settings: Settings, level: str) -> Iterator[Index]:
    with Index.open(replace(settings, two_factor_required=level)) as index:
        yield index


def user(index: Index, name: str) -> User:
    index.user(name)
    with index.db.read() as s:
        found = s.scalar(select(User).where(User.username == name))
        assert found is not None
        return found


def enable_2fa(index: Index, name: str) -> None:
    with index.db.write() as s:
        account = s.scalar(select(User).where(User.username == name))
        assert account is not None
        secret = pyotp.random_base32()
        enable_totp(s, account, secret, pyotp.TOTP(secret).now(), origin=CLI)


def new_project(index: Index, *, owner: str = "alice", maintainer: str | None = None) -> None:
    """Project 'demo' with an owner (and a maintainer), made directly: under level `all` no
    one without 2FA could create it by uploading."""
    owner_row = user(index, owner)
    maintainer_row = user(index, maintainer) if maintainer else None
    with index.db.write() as s:
        project = Project(name="demo", normalized_name="demo")
        s.add(project)
        s.flush()
        add_role(s, project=project, user=owner_row, role_name="Owner", origin=CLI)
        if maintainer_row is not None:
            add_role(s, project=project, user=maintainer_row, role_name="Maintainer", origin=CLI)


def make(index: Index, kind: str) -> None:
    """Put project 'demo' under a rule: pinned critical, or the owners' opt-in."""
    with index.db.write() as s:
        project = find_project(s, "demo")
        assert project is not None
        if kind == "critical":
            pin_critical(s, project=project, origin=CLI)
        elif kind == "opt-in":
            project.require_2fa = True


def upload(
    index: Index, version: str, name: str = "alice", project: str = "demo"
) -> httpx.Response:
    return index.upload(
        wheel_bytes(project, version), wheel_name(project, version), token=index.token(name)
    )


def post(client: TestClient, path: str, **fields: str) -> httpx.Response:
    token = csrf_from(client, "/")
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def invite(client: TestClient, username: str) -> httpx.Response:
    return post(
        client, "/manage/project/demo/roles/invite/", username=username, role_name="Maintainer"
    )


def text(response: httpx.Response) -> str:
    """The page as a reader sees it (entities decoded)."""
    return html.unescape(response.text)


# (level, what makes the project fall under a rule, the rule named; None: no rule applies)
LEVELS = [
    ("none", "critical", None),
    ("none", "opt-in", OWNERS_RULE),
    ("critical", "plain", None),
    ("critical", "critical", CRITICAL_RULE),
    ("critical", "opt-in", OWNERS_RULE),
    ("all", "plain", ALL_RULE),
]


@pytest.mark.parametrize(("level", "kind", "rule"), LEVELS)
def test_upload_at_each_level(settings: Settings, level: str, kind: str, rule: str | None) -> None:
    with at_level(settings, level) as index:
        new_project(index)
        make(index, kind)
        r = upload(index, "1.0")
        if rule is None:
            assert r.status_code == 200, r.text
            return
        assert r.status_code == 403
        assert r.text == (
            f"User 'alice' must enable two-factor authentication to upload to project 'demo': "
            f"{rule}. {SETUP}\n"
        )
        enable_2fa(index, "alice")
        assert upload(index, "1.0").status_code == 200


@pytest.mark.parametrize(("level", "kind", "rule"), LEVELS)
def test_management_at_each_level(
    settings: Settings, level: str, kind: str, rule: str | None
) -> None:
    with at_level(settings, level) as index:
        new_project(index, maintainer="mara")
        make(index, kind)
        alice, mara = login_client(index, "alice"), login_client(index, "mara")
        index.user("carol")
        pages = [
            "/manage/project/demo/",
            "/manage/project/demo/roles/",
            "/manage/project/demo/history/",
        ]
        for page in pages:
            for client in (alice, mara):
                r = client.get(page)
                assert r.status_code == (200 if rule is None else 403), (page, r.text)
        invited = invite(alice, "carol")
        if rule is None:
            assert invited.status_code == 303
            return
        assert r.text == (
            f"User 'mara' must enable two-factor authentication to manage project 'demo': "
            f"{rule}. {SETUP}\n"
        )
        assert invited.status_code == 403
        assert "User 'alice' must enable" in text(invited) and SETUP in text(invited)
        enable_2fa(index, "alice")
        for page in pages:
            assert alice.get(page).status_code == 200
        assert mara.get(pages[0]).status_code == 403
        # Nobody without 2FA joins a project that requires it.
        refused = invite(alice, "carol")
        assert refused.status_code == 403
        assert (
            f"User 'carol' must enable two-factor authentication to become a collaborator on "
            f"project 'demo': {rule}. {SETUP}"
        ) in text(refused)


def test_new_projects_fall_only_under_level_all(settings: Settings) -> None:
    with at_level(settings, "all") as index:
        r = upload(index, "1.0", project="fresh")
        assert r.status_code == 403
        assert r.text == (
            "User 'alice' must enable two-factor authentication to upload to project 'fresh': "
            f"{ALL_RULE}. {SETUP}\n"
        )
        with index.db.read() as s:
            assert find_project(s, "fresh") is None
        enable_2fa(index, "alice")
        assert upload(index, "1.0", project="fresh").status_code == 200


def test_the_refusal_links_the_setup_page_which_is_never_blocked(settings: Settings) -> None:
    """Refused, follow the link, enrol an authentication app there, and the upload works."""
    with at_level(settings, "all") as index:
        new_project(index, owner="bob")
        refused = upload(index, "1.0", name="bob")
        assert refused.status_code == 403
        link = refused.text.strip().rsplit(" ", 1)[1]
        assert link == "http://testserver/manage/account/two-factor/"
        bob = login_client(index, "bob")
        path = link.removeprefix("http://testserver")
        assert bob.get(path).status_code == 200
        assert post(bob, path + "totp/start/").status_code == 303
        with index.db.read() as s:
            row = totp_of(s, user(index, "bob").id, confirmed=False)
            assert row is not None
            secret = row.secret
        confirmed = post(
            bob, path + "totp/confirm/", code=pyotp.TOTP(secret).now(), password="correct horse 1"
        )
        assert confirmed.status_code in (200, 303), confirmed.text
        assert upload(index, "1.0", name="bob").status_code == 200


def test_account_pages_and_token_creation_stay_open_under_all(settings: Settings) -> None:
    with at_level(settings, "all") as index:
        bob = login_client(index, "bob")
        for page in ("/manage/account/", "/manage/account/tokens/", "/manage/projects/"):
            assert bob.get(page).status_code == 200, page
        token_form = {"csrf_token": csrf_from(bob, "/manage/account/tokens/"), "scope": "all"}
        created = bob.post("/manage/account/tokens/", data={**token_form, "name": "ci"})
        assert created.status_code == 200
        assert 'id="new-token"' in created.text


def test_administrators_are_not_exempt(index: Index) -> None:
    new_project(index)
    make(index, "critical")
    index.user("root", admin=True)
    root = login_client(index, "root")
    r = root.get("/manage/project/demo/")
    assert r.status_code == 403
    assert r.text.startswith("User 'root' must enable two-factor authentication to manage")
    enable_2fa(index, "root")
    assert root.get("/manage/project/demo/").status_code == 200


def test_invitation_refused_without_2fa_on_an_opt_in_project(index: Index) -> None:
    new_project(index)
    enable_2fa(index, "alice")
    make(index, "opt-in")
    index.user("bob")
    alice = login_client(index, "alice")
    r = invite(alice, "bob")
    assert r.status_code == 403
    assert (
        "User 'bob' must enable two-factor authentication to become a collaborator on project "
        f"'demo': {OWNERS_RULE}. {SETUP}"
    ) in text(r)
    with index.db.read() as s:
        assert s.scalars(select(RoleInvitation)).all() == []
    enable_2fa(index, "bob")
    assert invite(alice, "bob").status_code == 303


def test_acceptance_refused_once_the_project_requires_2fa(index: Index) -> None:
    new_project(index)
    index.user("bob")
    alice, bob = login_client(index, "alice"), login_client(index, "bob")
    assert invite(alice, "bob").status_code == 303
    make(index, "opt-in")
    with index.db.read() as s:
        invitation_id = s.scalar(select(RoleInvitation.id))
    accept = f"/manage/invitations/{invitation_id}/accept/"
    r = post(bob, accept)
    assert r.status_code == 403
    assert f"to become a collaborator on project 'demo': {OWNERS_RULE}. {SETUP}" in text(r)
    enable_2fa(index, "bob")
    assert post(bob, accept).status_code == 303
    assert bob.get("/manage/project/demo/").status_code == 200


def history_tags(index: Index) -> list[str]:
    with index.db.read() as s:
        project = find_project(s, "demo")
        assert project is not None
        query = select(Event.tag).where(Event.project_id == project.id).order_by(Event.id)
        return list(s.scalars(query))


def test_settings_page_and_the_opt_in_switch(index: Index) -> None:
    new_project(index, maintainer="mara")
    alice, mara = login_client(index, "alice"), login_client(index, "mara")
    page = alice.get("/manage/project/demo/settings/")
    assert page.status_code == 200
    assert "2FA for maintainers of critical projects" in page.text  # the default level
    assert "This project is not critical." in page.text
    assert "Without two-factor authentication: 2 of 2." in page.text
    assert 'href="/manage/project/demo/settings/"' in alice.get("/manage/project/demo/").text
    assert 'settings/"' not in mara.get("/manage/project/demo/").text
    assert mara.get("/manage/project/demo/settings/").status_code == 403

    # Turning it on needs 2FA on the owner's own account.
    r = post(alice, "/manage/project/demo/settings/2fa/", require_2fa="on")
    assert r.status_code == 403
    assert "You must enable two-factor authentication on your own account" in text(r)
    assert "http://testserver/manage/account/two-factor/" in r.text
    enable_2fa(index, "alice")
    r = post(alice, "/manage/project/demo/settings/2fa/", require_2fa="on")
    assert (r.status_code, r.headers["location"]) == (
        303,
        "/manage/project/demo/settings/?done=required",
    )
    page = alice.get(r.headers["location"])
    assert "now required of every maintainer" in page.text
    assert "The owners require 2FA for all maintainers" in page.text
    assert "Without two-factor authentication: 1 of 2." in page.text
    assert '<th scope="row">mara</th><td>Maintainer</td><td><strong>Not enabled' in page.text
    assert mara.get("/manage/project/demo/").status_code == 403
    assert "project:2fa:require" in alice.get("/manage/project/demo/history/").text

    # Unchecked box: off again.
    r = post(alice, "/manage/project/demo/settings/2fa/")
    assert r.headers["location"].endswith("?done=unrequired")
    assert mara.get("/manage/project/demo/").status_code == 200
    assert history_tags(index)[-2:] == ["project:2fa:require", "project:2fa:unrequire"]


def test_admin_pins_from_the_settings_page(index: Index) -> None:
    new_project(index)
    index.user("root", admin=True)
    enable_2fa(index, "root")
    root, alice = login_client(index, "root"), login_client(index, "alice")
    assert post(alice, "/admin/projects/demo/critical/", action="pin").status_code == 403
    assert "Pin as critical" in root.get("/manage/project/demo/settings/").text
    r = post(root, "/admin/projects/Demo/critical/", action="pin")
    assert r.headers["location"] == "/manage/project/demo/settings/?done=pinned"
    page = root.get(r.headers["location"]).text
    assert "This project is <strong>critical</strong>" in page
    assert "pinned by an administrator" in page
    # Alice has no 2FA: the critical project is closed to her now.
    assert alice.get("/manage/project/demo/").status_code == 403
    r = post(root, "/admin/projects/demo/critical/", action="unpin")
    assert r.headers["location"].endswith("?done=unpinned")
    with index.db.read() as s:
        project = find_project(s, "demo")
        assert project is not None
        assert (project.critical, project.critical_pinned) == (True, False)
    assert post(root, "/admin/projects/nope/critical/", action="pin").status_code == 404
    assert post(root, "/admin/projects/demo/critical/", action="x").status_code == 400


def test_pin_critical_cli(index: Index) -> None:
    new_project(index)
    proc = run_cli(index, "admin", "pin-critical", "Demo")
    assert proc.returncode == 0, proc.stderr
    assert "demo is now critical (pinned)" in proc.stderr
    assert run_cli(index, "admin", "pin-critical", "demo").stderr.strip() == (
        "demo is already pinned as critical"
    )
    with index.db.read() as s:
        project = find_project(s, "demo")
        assert project is not None
        assert (project.critical, project.critical_pinned) == (True, True)
        assert project.critical_since is not None
        event = s.scalars(select(Event).where(Event.tag == "project:critical")).one()
        assert event.details == {"name": "demo", "reason": "pinned", "was_critical": False}
    assert upload(index, "1.0").status_code == 403

    proc = run_cli(index, "admin", "unpin-critical", "demo")
    assert "stays critical" in proc.stderr
    with index.db.read() as s:
        project = find_project(s, "demo")
        assert project is not None
        assert (project.critical, project.critical_pinned) == (True, False)
    assert history_tags(index)[-2:] == ["project:critical", "project:critical:unpin"]
    missing = run_cli(index, "admin", "pin-critical", "nope")
    assert missing.returncode == 1
    assert "no project named 'nope'" in missing.stderr


def test_real_twine_and_uv_are_refused_under_all(settings: Settings, tmp_path: Path) -> None:
    with at_level(settings, "all") as index:
        wheel = tmp_path / wheel_name("demo", "1.0")
        wheel.write_bytes(wheel_bytes("demo", "1.0"))
        token = index.token("alice")
        bin_dir = Path(sys.executable).parent
        with index.live() as url:
            twine = subprocess.run(
                [
                    str(bin_dir / "twine"),
                    "upload",
                    "--non-interactive",
                    "--disable-progress-bar",
                    "--repository-url",
                    f"{url}/legacy/",
                    "-u",
                    "__token__",
                    "-p",
                    token,
                    str(wheel),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            uv = subprocess.run(
                [
                    str(bin_dir / "uv"),
                    "publish",
                    "--publish-url",
                    f"{url}/legacy/",
                    "--token",
                    token,
                    str(wheel),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                env={"PATH": "/usr/bin:/bin", "UV_NO_CONFIG": "1", "HOME": str(tmp_path)},
            )
        assert twine.returncode != 0
        assert "403 Forbidden" in twine.stdout + twine.stderr
        assert uv.returncode != 0
        out = " ".join((uv.stdout + uv.stderr).split())
        assert "403 Forbidden" in out
        assert "User 'alice' must enable two-factor authentication to upload to project" in out
        assert f"{url}/manage/account/two-factor/" in out
        with index.db.read() as s:
            assert find_project(s, "demo") is None


def test_a_member_without_2fa_can_still_leave_the_project(index: Index) -> None:
    new_project(index, maintainer="mara")
    make(index, "opt-in")
    mara = login_client(index, "mara")
    # Everything else on the project is closed to her, leaving is not (it reduces risk).
    assert mara.get("/manage/project/demo/").status_code == 403
    r = post(mara, "/manage/project/demo/roles/leave/")
    assert r.status_code == 303, r.text
    with index.db.read() as s:
        names = s.scalars(select(User.username).join(Role, Role.user_id == User.id)).all()
    assert names == ["alice"]
    # Someone without a role still cannot use it.
    assert post(mara, "/manage/project/demo/roles/leave/").status_code == 403
