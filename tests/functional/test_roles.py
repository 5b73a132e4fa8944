"""Project roles through the web UI: invitations, acceptance, role changes, removal, leaving,
and what each does to the right to upload."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from stockade.accounts.models import User, UserEmail
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import Project, Role, RoleInvitation
from stockade.index.roles import RoleError, add_role
from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client, project_roles


def create_project(index: Index, name: str = "demo", owner: str = "alice") -> None:
    r = index.upload(wheel_bytes(name, "1.0"), wheel_name(name, "1.0"), token=index.token(owner))
    assert r.status_code == 200, r.text


def post(client: TestClient, path: str, **fields: str) -> httpx.Response:
    token = csrf_from(client, "/")
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


roles = project_roles


def invitation_states(index: Index) -> list[tuple[str, str, str]]:
    with index.db.read() as s:
        rows = s.execute(
            select(User.username, RoleInvitation.role_name, RoleInvitation.status)
            .join(User, User.id == RoleInvitation.user_id)
            .order_by(RoleInvitation.id)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def invitation_id(index: Index, username: str) -> int:
    with index.db.read() as s:
        found = s.scalar(
            select(RoleInvitation.id)
            .join(User, User.id == RoleInvitation.user_id)
            .where(User.username == username)
            .order_by(RoleInvitation.id.desc())
        )
    assert found is not None
    return found


def role_id(index: Index, username: str, project: str = "demo") -> int:
    with index.db.read() as s:
        found = s.scalar(
            select(Role.id)
            .join(User, User.id == Role.user_id)
            .join(Project, Project.id == Role.project_id)
            .where(User.username == username, Project.normalized_name == project)
        )
    assert found is not None
    return found


def tags(index: Index) -> list[str]:
    with index.db.read() as s:
        return list(s.scalars(select(Event.tag).order_by(Event.id)))


def mail(index: Index) -> list[EmailMessage]:
    folder = index.settings.data_dir / "outbox"
    if not folder.exists():
        return []
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]


def upload_as(index: Index, user: str, version: str, project: str = "demo") -> httpx.Response:
    return index.upload(
        wheel_bytes(project, version), wheel_name(project, version), token=index.token(user)
    )


def invite(client: TestClient, username: str, role: str = "Maintainer") -> httpx.Response:
    return post(client, "/manage/project/demo/roles/invite/", username=username, role_name=role)


def test_invite_accept_upload_then_removed_cannot_upload(index: Index) -> None:
    create_project(index)
    index.user("bob")
    alice, bob = login_client(index, "alice"), login_client(index, "bob")
    # Before any invitation bob may not upload to alice's project.
    refused = upload_as(index, "bob", "1.1")
    assert refused.status_code == 403
    assert "isn't allowed to upload to project" in refused.text

    r = invite(alice, "bob")
    assert r.status_code == 303
    assert r.headers["location"] == "/manage/project/demo/roles/?done=invited&who=bob"
    assert "Invitation sent to &#39;bob&#39;." in alice.get(r.headers["location"]).text
    assert invitation_states(index) == [("bob", "Maintainer", "pending")]
    [sent] = mail(index)
    assert sent["To"] == "bob@example.test"
    assert sent["Subject"] == "[stockade] You have been invited to join demo"
    assert "http://testserver/manage/projects/" in sent.get_content()

    page = bob.get("/manage/projects/")
    assert "Pending invitations" in page.text and "/accept/" in page.text
    r = post(bob, f"/manage/invitations/{invitation_id(index, 'bob')}/accept/")
    assert r.status_code == 303
    assert r.headers["location"] == "/manage/projects/?done=accepted&who=demo"
    assert roles(index) == {"alice": "Owner", "bob": "Maintainer"}
    assert invitation_states(index) == [("bob", "Maintainer", "accepted")]
    # The owner hears that bob joined.
    assert mail(index)[-1]["To"] == "alice@example.test"
    assert "bob is now Maintainer of demo" in mail(index)[-1]["Subject"]

    assert upload_as(index, "bob", "1.1").status_code == 200

    r = post(alice, f"/manage/project/demo/roles/{role_id(index, 'bob')}/remove/")
    assert r.status_code == 303
    assert r.headers["location"] == "/manage/project/demo/roles/?done=removed&who=bob"
    assert roles(index) == {"alice": "Owner"}
    assert mail(index)[-1]["Subject"] == "[stockade] You were removed from demo"
    refused = upload_as(index, "bob", "1.2")
    assert refused.status_code == 403
    assert "isn't allowed to upload to project 'demo'" in refused.text

    assert [t for t in tags(index) if t.startswith("project:role:")] == [
        "project:role:add",
        "project:role:invite",
        "project:role:accept",
        "project:role:remove",
    ]
    history = alice.get("/manage/project/demo/history/").text
    for tag in ("project:role:invite", "project:role:accept", "project:role:remove"):
        assert f'data-tag="{tag}"' in history


def test_invited_user_sees_event_in_their_own_history_rows(index: Index) -> None:
    create_project(index)
    bob = index.user("bob")
    invite(login_client(index, "alice"), "bob")
    with index.db.read() as s:
        event = s.scalar(select(Event).where(Event.tag == "project:role:invite"))
    assert event is not None
    assert event.user_id == bob.id and event.project_id is not None
    assert event.details["username"] == "bob" and event.details["role"] == "Maintainer"


def test_decline(index: Index) -> None:
    create_project(index)
    index.user("bob")
    alice, bob = login_client(index, "alice"), login_client(index, "bob")
    invite(alice, "bob", "Owner")
    r = post(bob, f"/manage/invitations/{invitation_id(index, 'bob')}/decline/")
    assert r.status_code == 303
    assert "Invitation for &#39;demo&#39; is declined." in bob.get(r.headers["location"]).text
    assert roles(index) == {"alice": "Owner"}
    assert invitation_states(index) == [("bob", "Owner", "declined")]
    assert "project:role:decline" in tags(index)
    assert mail(index)[-1]["Subject"] == "[stockade] bob declined to join demo"
    # A declined invitation cannot be accepted afterwards.
    r = post(bob, f"/manage/invitations/{invitation_id(index, 'bob')}/accept/")
    assert r.status_code == 400
    assert "no longer pending: it was declined" in r.text
    assert roles(index) == {"alice": "Owner"}


def test_revoke(index: Index) -> None:
    create_project(index)
    index.user("bob")
    alice, bob = login_client(index, "alice"), login_client(index, "bob")
    invite(alice, "bob")
    inv = invitation_id(index, "bob")
    assert f"/invitations/{inv}/revoke/" in alice.get("/manage/project/demo/roles/").text
    r = post(alice, f"/manage/project/demo/invitations/{inv}/revoke/")
    assert r.status_code == 303
    assert r.headers["location"] == "/manage/project/demo/roles/?done=revoked&who=bob"
    assert invitation_states(index) == [("bob", "Maintainer", "revoked")]
    assert "project:role:revoke-invite" in tags(index)
    assert mail(index)[-1]["Subject"] == "[stockade] Your invitation to join demo was revoked"
    assert "/accept/" not in bob.get("/manage/projects/").text
    r = post(bob, f"/manage/invitations/{inv}/accept/")
    assert r.status_code == 400
    assert roles(index) == {"alice": "Owner"}
    # Once revoked, a new invitation can be sent.
    assert invite(alice, "bob").status_code == 303


def test_expired_invitation_cannot_be_accepted(index: Index) -> None:
    create_project(index)
    index.user("bob")
    alice, bob = login_client(index, "alice"), login_client(index, "bob")
    invite(alice, "bob")
    inv = invitation_id(index, "bob")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with index.db.write() as s:
        s.execute(update(RoleInvitation).values(expires_at=past))
    # Expired invitations are no longer offered...
    assert "/accept/" not in bob.get("/manage/projects/").text
    # ...and cannot be accepted: the refusal is shown and the invitation is marked expired.
    r = post(bob, f"/manage/invitations/{inv}/accept/")
    assert r.status_code == 400
    assert "This invitation has expired" in r.text
    assert roles(index) == {"alice": "Owner"}
    assert invitation_states(index) == [("bob", "Maintainer", "expired")]
    assert "project:role:accept" not in tags(index)
    assert upload_as(index, "bob", "1.1").status_code == 403
    # A new invitation is allowed once the old one has expired.
    assert invite(alice, "bob").status_code == 303
    assert invitation_states(index)[-1] == ("bob", "Maintainer", "pending")


def test_invitation_expires_after_six_days(index: Index) -> None:
    create_project(index)
    index.user("bob")
    invite(login_client(index, "alice"), "bob")
    with index.db.read() as s:
        inv = s.scalars(select(RoleInvitation)).one()
    assert inv.expires_at - inv.created_at == dt.timedelta(days=6)


def test_invite_refusals_are_explained_and_change_nothing(index: Index) -> None:
    create_project(index)
    alice = login_client(index, "alice")
    index.user("bob")
    index.user("carol")
    index.user("dave")
    index.user("erin")
    with index.db.write() as s:
        s.execute(update(User).where(User.username == "dave").values(is_active=False))
        erin = s.scalar(select(User.id).where(User.username == "erin"))
        s.execute(update(UserEmail).where(UserEmail.user_id == erin).values(verified=False))
    assert invite(alice, "bob").status_code == 303
    before = (invitation_states(index), roles(index), len(tags(index)), len(mail(index)))

    cases = {
        "nobody": "No user found with that username. Try again.",
        "": "No user found with that username. Try again.",
        "alice": "User &#39;alice&#39; already has Owner role for project.",
        "BOB": "User &#39;bob&#39; already has an active invite. Please try again later.",
        "dave": "User &#39;dave&#39; is disabled and cannot be invited.",
        "erin": "User &#39;erin&#39; does not have a verified primary email address",
    }
    for username, message in cases.items():
        r = invite(alice, username)
        assert r.status_code == 400, username
        assert message in r.text, (username, r.text)
        # The form keeps what was typed.
        assert f'value="{username}"' in r.text
    r = invite(alice, "carol", "Administrator")
    assert r.status_code == 400
    assert "Invalid role name &#39;Administrator&#39;" in r.text
    assert (invitation_states(index), roles(index), len(tags(index)), len(mail(index))) == before


def test_only_owners_invite_change_remove_and_revoke(index: Index) -> None:
    create_project(index)
    index.user("bob")
    index.user("carol")
    with index.db.write() as s:
        project = s.scalars(select(Project)).one()
        bob = s.scalars(select(User).where(User.username == "bob")).one()
        add_role(s, project=project, user=bob, role_name="Maintainer", origin=CLI)
    alice, bob_client = login_client(index, "alice"), login_client(index, "bob")
    invite(alice, "carol")
    before = (invitation_states(index), roles(index), len(tags(index)))
    alice_role = role_id(index, "alice")
    attempts = [
        ("/manage/project/demo/roles/invite/", {"username": "carol", "role_name": "Owner"}),
        (f"/manage/project/demo/roles/{alice_role}/change/", {"role_name": "Maintainer"}),
        (f"/manage/project/demo/roles/{alice_role}/remove/", {}),
        (f"/manage/project/demo/invitations/{invitation_id(index, 'carol')}/revoke/", {}),
    ]
    for path, fields in attempts:
        r = post(bob_client, path, **fields)
        assert r.status_code == 403, path
        assert "Only owners of project 'demo' can do this." in r.text
    assert (invitation_states(index), roles(index), len(tags(index))) == before
    # The maintainer sees the collaborators but not the owners' forms.
    page = bob_client.get("/manage/project/demo/roles/")
    assert page.status_code == 200
    assert "alice" in page.text and "carol" in page.text
    assert "/change/" not in page.text and "/remove/" not in page.text
    assert "/roles/invite/" not in page.text and "/revoke/" not in page.text
    assert "/roles/leave/" in page.text


def test_change_role_promotes_and_notifies(index: Index) -> None:
    create_project(index)
    index.user("bob")
    alice, bob = login_client(index, "alice"), login_client(index, "bob")
    invite(alice, "bob")
    post(bob, f"/manage/invitations/{invitation_id(index, 'bob')}/accept/")
    r = post(
        alice, f"/manage/project/demo/roles/{role_id(index, 'bob')}/change/", role_name="Owner"
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/manage/project/demo/roles/?done=changed&who=bob"
    assert roles(index) == {"alice": "Owner", "bob": "Owner"}
    assert mail(index)[-1]["Subject"] == "[stockade] Your role on demo changed"
    with index.db.read() as s:
        event = s.scalars(select(Event).where(Event.tag == "project:role:change")).one()
    assert event.details["previous_role"] == "Maintainer" and event.details["role"] == "Owner"
    # Now an owner, bob manages roles; with two owners alice may step down to maintainer.
    r = post(
        bob, f"/manage/project/demo/roles/{role_id(index, 'alice')}/change/", role_name="Maintainer"
    )
    assert r.status_code == 303
    assert roles(index) == {"alice": "Maintainer", "bob": "Owner"}
    r = post(bob, f"/manage/project/demo/roles/{role_id(index, 'bob')}/change/", role_name="Owner")
    assert r.status_code == 400
    assert "already has Owner role" in r.text


def test_last_owner_cannot_leave_be_removed_or_demoted(index: Index) -> None:
    create_project(index)
    alice = login_client(index, "alice")
    index.user("root", admin=True)
    root = login_client(index, "root")
    before = (roles(index), len(tags(index)))
    own = role_id(index, "alice")
    refusals = [
        (alice, "/manage/project/demo/roles/leave/", {}),
        (alice, f"/manage/project/demo/roles/{own}/remove/", {}),
        (alice, f"/manage/project/demo/roles/{own}/change/", {"role_name": "Maintainer"}),
        # Not even an administrator can leave a project without an owner.
        (root, f"/manage/project/demo/roles/{own}/remove/", {}),
        (root, f"/manage/project/demo/roles/{own}/change/", {"role_name": "Maintainer"}),
    ]
    for client, path, fields in refusals:
        r = post(client, path, **fields)
        assert r.status_code == 400, path
        assert "sole owner" in r.text or "only owner" in r.text, r.text
        assert "at least one owner" in r.text
    assert (roles(index), len(tags(index))) == before
    assert upload_as(index, "alice", "1.1").status_code == 200


def test_maintainer_and_non_last_owner_can_leave(index: Index) -> None:
    create_project(index)
    index.user("bob")
    index.user("carol")
    alice, bob, carol = (login_client(index, n) for n in ("alice", "bob", "carol"))
    invite(alice, "bob", "Owner")
    invite(alice, "carol", "Maintainer")
    post(bob, f"/manage/invitations/{invitation_id(index, 'bob')}/accept/")
    post(carol, f"/manage/invitations/{invitation_id(index, 'carol')}/accept/")

    r = post(carol, "/manage/project/demo/roles/leave/")
    assert r.status_code == 303
    assert r.headers["location"] == "/manage/projects/?done=left&who=demo"
    assert "You left the project &#39;demo&#39;." in carol.get(r.headers["location"]).text
    assert carol.get("/manage/project/demo/").status_code == 403

    assert post(alice, "/manage/project/demo/roles/leave/").status_code == 303
    assert roles(index) == {"bob": "Owner"}
    assert post(bob, "/manage/project/demo/roles/leave/").status_code == 400
    with index.db.read() as s:
        reasons = [
            e.details["reason"]
            for e in s.scalars(select(Event).where(Event.tag == "project:role:remove"))
        ]
    assert reasons == ["left", "left"]


def test_owner_removing_themselves_goes_to_their_projects(index: Index) -> None:
    create_project(index)
    index.user("bob")
    alice, bob = login_client(index, "alice"), login_client(index, "bob")
    invite(alice, "bob", "Owner")
    post(bob, f"/manage/invitations/{invitation_id(index, 'bob')}/accept/")
    r = post(alice, f"/manage/project/demo/roles/{role_id(index, 'alice')}/remove/")
    assert r.status_code == 303
    assert r.headers["location"] == "/manage/projects/?done=left&who=demo"
    assert roles(index) == {"bob": "Owner"}


def test_someone_elses_invitation_is_not_found(index: Index) -> None:
    create_project(index)
    index.user("bob")
    index.user("mallory")
    invite(login_client(index, "alice"), "bob")
    inv = invitation_id(index, "bob")
    mallory = login_client(index, "mallory")
    for action in ("accept", "decline"):
        r = post(mallory, f"/manage/invitations/{inv}/{action}/")
        assert r.status_code == 404
        assert "Role invitation no longer exists." in r.text
    assert post(mallory, "/manage/invitations/999999/accept/").status_code == 404
    assert invitation_states(index) == [("bob", "Maintainer", "pending")]
    assert roles(index) == {"alice": "Owner"}


def test_unknown_role_ids_are_not_found(index: Index) -> None:
    create_project(index)
    create_project(index, "other", owner="olga")
    alice = login_client(index, "alice")
    # A role on another project cannot be reached through this one.
    foreign = role_id(index, "olga", "other")
    r = post(alice, f"/manage/project/demo/roles/{foreign}/remove/")
    assert r.status_code == 404
    assert "Could not find role." in r.text
    assert roles(index, "other") == {"olga": "Owner"}


def test_accepting_when_a_role_was_added_meanwhile_is_a_clear_error(index: Index) -> None:
    create_project(index)
    index.user("bob")
    alice, bob = login_client(index, "alice"), login_client(index, "bob")
    invite(alice, "bob", "Owner")
    with index.db.write() as s:
        project = s.scalars(select(Project)).one()
        user = s.scalars(select(User).where(User.username == "bob")).one()
        add_role(s, project=project, user=user, role_name="Maintainer", origin=CLI)
    # The unique (user, project) constraint turns the duplicate into a domain error, not a 500.
    r = post(bob, f"/manage/invitations/{invitation_id(index, 'bob')}/accept/")
    assert r.status_code == 400
    assert "already has a role on project" in r.text
    assert roles(index) == {"alice": "Owner", "bob": "Maintainer"}
    with index.db.write() as s:
        project = s.scalars(select(Project)).one()
        user = s.scalars(select(User).where(User.username == "bob")).one()
        with pytest.raises(RoleError, match="already has Maintainer role"):
            add_role(s, project=project, user=user, role_name="Owner", origin=CLI)


def test_disabled_user_cannot_act(index: Index) -> None:
    create_project(index)
    index.user("bob")
    alice = login_client(index, "alice")
    invite(alice, "bob")
    bob = login_client(index, "bob")
    token = csrf_from(bob, "/")
    with index.db.write() as s:
        s.execute(update(User).where(User.username == "bob").values(is_active=False))
    r = bob.post(
        f"/manage/invitations/{invitation_id(index, 'bob')}/accept/",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    # The session no longer identifies anyone: the CSRF check refuses before anything happens.
    assert r.status_code == 403
    assert invitation_states(index) == [("bob", "Maintainer", "pending")]


def test_a_deleted_projects_invitations_are_revoked_and_cannot_be_answered(index: Index) -> None:
    create_project(index)
    index.user("bob")
    alice, bob = login_client(index, "alice"), login_client(index, "bob")
    invite(alice, "bob", "Owner")
    assert "Pending invitations" in bob.get("/manage/projects/").text
    path = "/manage/project/demo/delete/"
    r = alice.post(
        path,
        data={"csrf_token": csrf_from(alice, path), "confirm": "demo"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert invitation_states(index) == [("bob", "Owner", "revoked")]
    assert tags(index).count("project:role:revoke-invite") == 1
    # Even an invitation still marked pending (answered in a race with the deletion) is shown
    # nowhere and cannot be accepted or declined.
    with index.db.write() as s:
        s.execute(update(RoleInvitation).values(status="pending"))
    assert "Pending invitations" not in bob.get("/manage/projects/").text
    inv = invitation_id(index, "bob")
    for answer in ("accept", "decline"):
        r = post(bob, f"/manage/invitations/{inv}/{answer}/")
        assert r.status_code == 404, r.text
        assert "Role invitation no longer exists." in r.text
    assert roles(index) == {"alice": "Owner"}
    # bob never became a former owner: the deleted name stays reserved for alice.
    refused = upload_as(index, "bob", "2.0")
    assert refused.status_code == 400 and "deleted-name reservation" in refused.text
