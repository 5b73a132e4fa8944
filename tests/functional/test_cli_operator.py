"""The operator CLI for users, tokens and the audit log, run as the real `stockade` script
against a test index's data folder (and its database and storage, on either backend)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from stockade.accounts.models import User, UserEmail, UserSession
from stockade.events.models import Event
from stockade.index.models import Project, Role
from stockade.tokens.models import ApiToken
from support.builders import wheel_bytes, wheel_name
from support.index import Index, login_client, run_cli

stockade = run_cli


def ok_json(index: Index, *args: str) -> Any:
    proc = stockade(index, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def upload(index: Index, name: str, version: str, token: str) -> int:
    r = index.upload(wheel_bytes(name, version), wheel_name(name, version), token=token)
    return r.status_code


def event_rows(index: Index, tag: str) -> list[Event]:
    with index.db.read() as s:
        return list(s.scalars(select(Event).where(Event.tag == tag).order_by(Event.id)))


def test_user_show(index: Index) -> None:
    alice = index.user("alice")
    assert upload(index, "Alpha.Pkg", "1.0", index.token("alice")) == 200
    assert upload(index, "beta", "1.0", index.token("bob")) == 200
    with index.db.write() as s:
        beta = s.scalar(select(Project).where(Project.normalized_name == "beta"))
        assert beta is not None
        s.add(Role(user_id=alice.id, project_id=beta.id, role_name="Maintainer"))
        s.add(UserEmail(user_id=alice.id, email="Alice@Work.test", email_lower="alice@work.test"))
    assert ok_json(index, "user", "show", "ALICE") == {
        "username": "alice",
        "is_admin": False,
        "disabled": False,
        "emails": [
            {"address": "alice@example.test", "primary": True, "verified": True},
            {"address": "Alice@Work.test", "primary": False, "verified": False},
        ],
        "two_factor": [],
        "projects": [
            {"name": "Alpha.Pkg", "role": "Owner"},
            {"name": "beta", "role": "Maintainer"},
        ],
    }
    index.user("root", admin=True)
    assert ok_json(index, "user", "show", "root")["is_admin"] is True

    table = stockade(index, "user", "show", "alice")
    assert table.returncode == 0, table.stderr
    for text in ("alice", "active", "Alice@Work.test", "Alpha.Pkg", "Maintainer"):
        assert text in table.stdout

    missing = stockade(index, "user", "show", "nobody", "--json")
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert "no user named 'nobody'" in missing.stderr


def test_disable_ends_sessions_and_stops_tokens_then_enable(index: Index) -> None:
    token = index.token("alice")
    browser = login_client(index, "alice")
    assert browser.get("/manage/account/tokens/").status_code == 200
    assert upload(index, "alpha", "1.0", token) == 200

    proc = stockade(index, "user", "disable", "alice")
    assert proc.returncode == 0, proc.stderr
    assert "alice is now disabled" in proc.stderr
    with index.db.read() as s:
        user = s.scalar(select(User).where(User.username == "alice"))
        assert user is not None and user.is_active is False
        sessions = list(s.scalars(select(UserSession).where(UserSession.user_id == user.id)))
        tokens = list(s.scalars(select(ApiToken)))
    assert sessions and all(row.revoked_at is not None for row in sessions)
    # Tokens are not revoked, only refused while the account is disabled.
    assert tokens and all(row.revoked_at is None for row in tokens)
    r = browser.get("/manage/account/tokens/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/account/login/")
    r = index.upload(wheel_bytes("alpha", "1.1"), wheel_name("alpha", "1.1"), token=token)
    assert r.status_code == 403 and "disabled" in r.text
    assert ok_json(index, "user", "show", "alice")["disabled"] is True
    [event] = event_rows(index, "account:disable")
    assert event.user_id == user.id and event.actor_id is None
    assert event.user_agent == "stockade-cli" and event.details == {"username": "alice"}

    again = stockade(index, "user", "disable", "alice")
    assert again.returncode == 0 and "already disabled" in again.stderr
    assert len(event_rows(index, "account:disable")) == 1

    proc = stockade(index, "user", "enable", "alice")
    assert proc.returncode == 0, proc.stderr
    assert upload(index, "alpha", "1.1", token) == 200
    [event] = event_rows(index, "account:enable")
    assert event.user_id == user.id and event.user_agent == "stockade-cli"
    assert ok_json(index, "user", "show", "alice")["disabled"] is False

    for command in ("disable", "enable"):
        missing = stockade(index, "user", command, "nobody")
        assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr


def test_token_create_list_and_revoke(index: Index) -> None:
    everything = index.token("alice")
    assert upload(index, "alpha", "1.0", everything) == 200
    created = stockade(
        index, "token", "create", "alice", "--project", "Alpha", "--expires", "5", "--label", "ci"
    )
    assert created.returncode == 0, created.stderr
    # Only the token on standard output, so that scripts can capture it.
    scoped = created.stdout.strip()
    assert created.stdout == scoped + "\n" and scoped.startswith("stockade-")
    assert upload(index, "alpha", "1.1", scoped) == 200

    listed = ok_json(index, "token", "list", "alice")
    assert [t["name"] for t in listed] == ["ci", "test"]  # newest first
    ci, first = listed
    assert set(ci) == {"id", "name", "scope", "created", "last_used", "expires", "revoked"}
    assert ci["scope"] == ["alpha"] and first["scope"] is None
    created_at = dt.datetime.fromisoformat(ci["created"])
    expires_at = dt.datetime.fromisoformat(ci["expires"])
    assert created_at.tzinfo is not None
    assert dt.timedelta(days=5) - dt.timedelta(seconds=5) < expires_at - created_at
    assert expires_at - created_at <= dt.timedelta(days=5)
    assert ci["last_used"] is not None and first["last_used"] is not None
    assert first["expires"] is None and ci["revoked"] is None
    index.user("bob")
    assert ok_json(index, "token", "list", "bob") == []

    revoked = stockade(index, "token", "revoke", str(ci["id"]))
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout == ""
    r = index.upload(wheel_bytes("alpha", "1.2"), wheel_name("alpha", "1.2"), token=scoped)
    assert r.status_code == 403 and "revoked" in r.text
    assert upload(index, "alpha", "1.2", everything) == 200
    [event] = event_rows(index, "token:revoke")
    assert event.details["token_id"] == ci["id"] and event.actor_id is None
    assert event.user_id == index.user("alice").id and event.user_agent == "stockade-cli"
    listed = ok_json(index, "token", "list", "alice")
    assert listed[0]["revoked"] is not None and listed[1]["revoked"] is None
    # Revoking twice changes nothing and records nothing more.
    assert stockade(index, "token", "revoke", str(ci["id"])).returncode == 0
    assert len(event_rows(index, "token:revoke")) == 1

    table = stockade(index, "token", "list", "alice")
    assert table.returncode == 0
    assert "revoked" in table.stdout and "all projects" in table.stdout
    assert scoped.removeprefix("stockade-") not in table.stdout

    unknown = stockade(index, "token", "revoke", "999999")
    assert unknown.returncode == 1 and "no API token with id 999999" in unknown.stderr
    missing = stockade(index, "token", "list", "nobody", "--json")
    assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr


def test_events_list(index: Index) -> None:
    assert upload(index, "alpha", "1.0", index.token("alice")) == 200
    assert upload(index, "beta", "1.0", index.token("bob")) == 200

    everything = ok_json(index, "events", "list")
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True) and len(ids) >= 8
    assert set(everything[0]) == {
        "id",
        "time",
        "tag",
        "sentence",
        "actor",
        "project",
        "ip_address",
        "user_agent",
        "details",
    }
    assert everything[0]["tag"] == "file:upload" and everything[0]["project"] == "beta"
    assert everything[0]["sentence"].startswith("bob uploaded beta-1.0")

    bobs = ok_json(index, "events", "list", "--user", "bob")
    assert bobs and all(e["actor"] == "bob" for e in bobs)
    assert {"account:create", "token:create", "project:create", "file:upload"} <= {
        e["tag"] for e in bobs
    }
    alpha = ok_json(index, "events", "list", "--project", "ALPHA")
    assert alpha and all(e["project"] == "alpha" for e in alpha)
    assert ok_json(index, "events", "list", "--project", "alpha", "--user", "bob") == []
    both = ok_json(index, "events", "list", "--project", "alpha", "--user", "alice")
    assert [e["id"] for e in both] == [e["id"] for e in alpha]
    assert ok_json(index, "events", "list", "--limit", "2") == everything[:2]

    table = stockade(index, "events", "list", "--project", "beta")
    assert table.returncode == 0, table.stderr
    assert "file:upload" in table.stdout and "alpha" not in table.stdout

    for option, value, message in (
        ("--project", "nope", "no project named 'nope'"),
        ("--user", "nobody", "no user named 'nobody'"),
    ):
        proc = stockade(index, "events", "list", option, value, "--json")
        assert proc.returncode == 1 and message in proc.stderr and proc.stdout == ""
