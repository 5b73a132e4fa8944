"""Organizations: the authorization matrix (org role x team role x project action), pending
orgs, the org's 2FA requirement, projects moving out, the security history and the public page.

The project actions go through the real paths: an upload through /legacy/ (publish/checks.py's
authorization), an invitation through index/roles.py (the owner check every role change makes).
"""

from __future__ import annotations

import httpx
import pyotp
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from stockade.accounts.twofactor.factors import enable_totp
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import Project
from stockade.index.ownership import add_org_project, remove_org_project
from stockade.index.roles import NotAllowed, invite
from stockade.index.rules import effective_role, find_project
from stockade.orgs import services as orgs
from stockade.orgs.models import Organization, OrgTransfer
from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, invoke_cli, login_client

ORG_ROLES = (None, "member", "manager", "owner")
TEAM_ROLES = (None, "Maintainer", "Owner")
# A team role needs org membership: someone outside the org is in no team.
CASES = [(o, t) for o in ORG_ROLES for t in TEAM_ROLES if o is not None or t is None]


def _expected(org_role: str | None, team_role: str | None) -> tuple[bool, bool]:
    """(may upload, may manage roles): org owners own every org project, managers maintain
    them, members only get what their team gets."""
    upload = org_role in ("owner", "manager") or team_role is not None
    manage = org_role == "owner" or team_role == "Owner"
    return upload, manage


def _upload(index: Index, user: str, version: str, name: str = "demo") -> int:
    r = index.upload(wheel_bytes(name, version), wheel_name(name, version), token=index.token(user))
    return r.status_code


def _org(session, name: str = "acme") -> Organization:  # type: ignore[no-untyped-def]
    return orgs.require_org(session, name)


@pytest.fixture
def acme(index: Index) -> Index:
    """Org "acme" (owned by olive) owns project demo (uploaded by dave, its own Owner); its
    team "maintainers" is Maintainer of demo and "owners" is Owner."""
    olive = index.user("olive")
    index.user("dave")
    assert _upload(index, "dave", "1.0") == 200
    with index.db.write() as s:
        org = orgs.request_org(
            s, "acme", owner=olive, approval_required=False, origin=CLI, actor_id=None
        )
        project = find_project(s, "demo")
        assert project is not None
        add_org_project(s, org, project, origin=CLI, actor_id=None)
        for team, role in (("maintainers", "Maintainer"), ("owners", "Owner")):
            created = orgs.create_team(s, org, team, origin=CLI, actor_id=None)
            orgs.set_team_role(s, created, project.id, role, origin=CLI, actor_id=None)
    return index


def test_authorization_matrix(acme: Index) -> None:
    index = acme
    people = {}
    for n, (org_role, team_role) in enumerate(CASES):
        user = index.user(f"u{n}")
        index.user(f"t{n}")  # whom u{n} tries to invite
        people[n] = user
        with index.db.write() as s:
            org = _org(s)
            if org_role is not None:
                orgs.add_member(s, org, user, org_role, origin=CLI, actor_id=None)
            if team_role is not None:
                team = orgs.find_team(s, org, "owners" if team_role == "Owner" else "maintainers")
                assert team is not None
                orgs.add_team_member(s, team, user, origin=CLI, actor_id=None)

    outcomes = {}
    for n, (org_role, team_role) in enumerate(CASES):
        uploaded = _upload(index, f"u{n}", f"2.{n}")
        assert uploaded in (200, 403), uploaded
        with index.db.write() as s:
            project = find_project(s, "demo")
            assert project is not None
            user = s.merge(people[n])
            try:
                invite(
                    s, actor=user, project=project, username=f"t{n}", role_name="Maintainer",
                    origin=CLI,
                )  # fmt: skip
                managed = True
            except NotAllowed:
                managed = False
        outcomes[(org_role, team_role)] = (uploaded == 200, managed)
    assert outcomes == {case: _expected(*case) for case in CASES}


def test_pending_org_gives_nothing(index: Index) -> None:
    olive = index.user("olive")
    index.user("dave")
    assert _upload(index, "dave", "1.0") == 200
    with index.db.write() as s:
        org = orgs.request_org(
            s, "acme", owner=olive, approval_required=True, origin=CLI, actor_id=None
        )
        assert org.status == "pending"
        project = find_project(s, "demo")
        assert project is not None
        add_org_project(s, org, project, origin=CLI, actor_id=None)
        assert effective_role(s, olive.id, project.id) is None
    assert _upload(index, "olive", "1.1") == 403
    with index.db.write() as s:
        orgs.approve_org(s, _org(s), origin=CLI, actor_id=None)
    assert _upload(index, "olive", "1.1") == 200


def test_org_two_factor_requirement(acme: Index) -> None:
    index = acme
    mara = index.user("mara")
    with index.db.write() as s:
        org = _org(s)
        orgs.add_member(s, org, mara, "member", origin=CLI, actor_id=None)
        team = orgs.find_team(s, org, "maintainers")
        assert team is not None
        orgs.add_team_member(s, team, mara, origin=CLI, actor_id=None)
        orgs.set_two_factor_requirement(s, org, True, origin=CLI, actor_id=None)
    r = index.upload(
        wheel_bytes("demo", "1.1"), wheel_name("demo", "1.1"), token=index.token("mara")
    )
    assert r.status_code == 403
    assert "the organization that owns project 'demo' requires 2FA of its members" in r.text
    with index.db.write() as s:
        secret = pyotp.random_base32()
        enable_totp(s, s.merge(mara), secret, pyotp.TOTP(secret).now(), origin=CLI)
    assert _upload(index, "mara", "1.1") == 200


def test_project_leaving_the_org_takes_team_roles(acme: Index) -> None:
    index = acme
    mara = index.user("mara")
    with index.db.write() as s:
        org = _org(s)
        orgs.add_member(s, org, mara, "member", origin=CLI, actor_id=None)
        team = orgs.find_team(s, org, "owners")
        assert team is not None
        orgs.add_team_member(s, team, mara, origin=CLI, actor_id=None)
    assert _upload(index, "mara", "1.1") == 200
    with index.db.write() as s:
        project = s.scalars(select(Project).where(Project.normalized_name == "demo")).one()
        remove_org_project(s, _org(s), project, origin=CLI, actor_id=None)
    assert _upload(index, "mara", "1.2") == 403
    assert _upload(index, "dave", "1.2") == 200  # its own Owner keeps the project


def test_membership_rules_and_history(acme: Index) -> None:
    index = acme
    olive, mara = index.user("olive"), index.user("mara")
    with index.db.write() as s:
        org = _org(s)
        with pytest.raises(orgs.OrgError, match="last owner"):
            orgs.add_member(s, org, s.merge(olive), "member", origin=CLI, actor_id=None)
        team = orgs.find_team(s, org, "owners")
        assert team is not None
        with pytest.raises(orgs.OrgError, match="must be a member"):
            orgs.add_team_member(s, team, s.merge(mara), origin=CLI, actor_id=None)
        with pytest.raises(orgs.OrgError, match="already exists"):
            orgs.request_org(
                s, "ACME", owner=s.merge(mara), approval_required=False, origin=CLI, actor_id=None
            )
        with pytest.raises(orgs.OrgError, match="not a valid organization name"):
            orgs.request_org(
                s, "-x-", owner=s.merge(mara), approval_required=False, origin=CLI, actor_id=None
            )
    with index.db.read() as s:
        org_id = _org(s).id
        tags = s.scalars(select(Event.tag).where(Event.org_id == org_id).order_by(Event.id)).all()
    assert tags == [
        "org:create",
        "org:project:add",
        "org:team:create",
        "org:team:role",
        "org:team:create",
        "org:team:role",
    ]


def test_public_org_page(acme: Index) -> None:
    index = acme
    shown, hidden = index.user("shown"), index.user("quiet")
    with index.db.write() as s:
        org = _org(s)
        orgs.add_member(s, org, shown, "member", origin=CLI, actor_id=None, public=True)
        orgs.add_member(s, org, hidden, "manager", origin=CLI, actor_id=None)
    r = index.client.get("/org/ACME/")
    assert r.status_code == 200
    assert 'href="/project/demo/"' in r.text
    assert "shown (member)" in r.text
    assert "quiet" not in r.text and "olive" not in r.text
    assert index.client.get("/org/nobody/").status_code == 404


def test_asking_for_an_org_waits_for_approval(index: Index) -> None:
    client = login_client(index, "alice")
    token = csrf_from(client, "/manage/organizations/")
    r = client.post(
        "/manage/organizations/", data={"name": "Acme", "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    page = client.get("/manage/organizations/").text
    assert "waiting for approval" in page
    assert index.client.get("/org/acme/").status_code == 404  # no public page yet
    taken = client.post("/manage/organizations/", data={"name": "ACME", "csrf_token": token})
    assert taken.status_code == 409
    assert "An organization named &#39;ACME&#39; already exists." in taken.text
    proc = invoke_cli(index, "org", "approve", "acme")
    assert proc.returncode == 0, proc.stderr
    assert index.client.get("/org/acme/").status_code == 200
    with index.db.read() as s:
        event = s.scalars(select(Event).where(Event.tag == "org:create")).one()
        assert event.actor_id == index.user("alice").id
        assert event.details["status"] == "pending"


def test_moving_a_project_takes_both_sides(index: Index) -> None:
    olive = index.user("olive")
    assert _upload(index, "dave", "1.0") == 200
    with index.db.write() as s:
        orgs.request_org(s, "acme", owner=olive, approval_required=False, origin=CLI, actor_id=None)
    dave, owner, outsider = (login_client(index, n) for n in ("dave", "olive", "eve"))

    def post(client: TestClient, path: str, **data: str) -> httpx.Response:
        token = csrf_from(client, "/manage/organizations/")
        return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)

    def org_of_demo() -> str | None:
        with index.db.read() as s:
            project = find_project(s, "demo")
            assert project is not None
            org = orgs.org_of_project(s, project.id)
            return org.name if org is not None else None

    asked = post(dave, "/manage/organizations/transfers/", org="acme", project="demo")
    assert asked.status_code == 303
    assert org_of_demo() is None  # waits for the org's side
    with index.db.read() as s:
        move_id = s.scalars(select(OrgTransfer.id)).one()
    confirm = f"/manage/organizations/transfers/{move_id}/confirm/"
    refused = post(outsider, confirm)
    assert refused.status_code == 403 and "waits for the other side" in refused.text
    assert post(dave, confirm).status_code == 403  # dave's side is confirmed already
    assert "demo into acme" in owner.get("/manage/organizations/").text
    assert post(owner, confirm).status_code == 303
    assert org_of_demo() == "acme"
    assert _upload(index, "olive", "1.1") == 200  # the org's owner owns its projects

    # Out again: the org asks, the project's owner in person confirms.
    assert (
        post(owner, "/manage/organizations/transfers/", org="acme", project="demo").status_code
        == 303
    )
    with index.db.read() as s:
        move_id = s.scalars(select(OrgTransfer.id)).one()
    assert org_of_demo() == "acme"
    assert post(dave, f"/manage/organizations/transfers/{move_id}/confirm/").status_code == 303
    assert org_of_demo() is None
    assert _upload(index, "olive", "1.2") == 403
    missing = post(dave, f"/manage/organizations/transfers/{move_id}/confirm/")
    assert missing.status_code == 404
    unknown = post(dave, "/manage/organizations/transfers/", org="nope", project="demo")
    assert unknown.status_code == 404
