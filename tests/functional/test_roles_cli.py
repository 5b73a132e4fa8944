"""`stockade role add|remove`, run as the real script against a test index's data folder."""

from __future__ import annotations

from sqlalchemy import select

from stockade.events.models import Event
from support.builders import wheel_bytes, wheel_name
from support.index import Index, project_roles, run_cli

stockade = run_cli


roles = project_roles


def upload(index: Index, user: str, version: str) -> int:
    r = index.upload(
        wheel_bytes("demo", version), wheel_name("demo", version), token=index.token(user)
    )
    return r.status_code


def test_role_add_and_remove(index: Index) -> None:
    assert upload(index, "alice", "1.0") == 200
    index.user("bob")
    assert upload(index, "bob", "1.1") == 403

    proc = stockade(index, "role", "add", "Demo", "BOB", "maintainer")
    assert proc.returncode == 0, proc.stderr
    assert "bob is now Maintainer of demo" in proc.stderr
    assert roles(index) == {"alice": "Owner", "bob": "Maintainer"}
    assert upload(index, "bob", "1.1") == 200
    with index.db.read() as s:
        event = s.scalars(
            select(Event).where(Event.tag == "project:role:add").order_by(Event.id.desc())
        ).first()
    assert event is not None
    assert event.actor_id is None and event.user_agent == "stockade-cli"
    assert event.details == {"username": "bob", "role": "Maintainer"}

    proc = stockade(index, "role", "remove", "demo", "bob")
    assert proc.returncode == 0, proc.stderr
    assert "bob is no longer Maintainer of demo" in proc.stderr
    assert roles(index) == {"alice": "Owner"}
    assert upload(index, "bob", "1.2") == 403
    with index.db.read() as s:
        removed = s.scalars(select(Event).where(Event.tag == "project:role:remove")).one()
    assert removed.details["reason"] == "operator" and removed.user_agent == "stockade-cli"


def test_role_cli_refusals(index: Index) -> None:
    assert upload(index, "alice", "1.0") == 200
    index.user("bob")
    cases = [
        (("add", "nope", "bob", "owner"), "no project named 'nope'"),
        (("add", "demo", "ghost", "owner"), "no user named 'ghost'"),
        (("add", "demo", "alice", "maintainer"), "already has Owner role"),
        (("remove", "demo", "bob"), "has no role on project"),
        # The last owner stays.
        (("remove", "demo", "alice"), "sole owner"),
    ]
    for args, message in cases:
        proc = stockade(index, "role", *args)
        assert proc.returncode == 1, (args, proc.stderr)
        assert message in " ".join(proc.stderr.split()), (args, proc.stderr)
    bad_role = stockade(index, "role", "add", "demo", "bob", "admin")
    assert bad_role.returncode == 2
    assert roles(index) == {"alice": "Owner"}

    # With a second owner, the first can be removed.
    assert stockade(index, "role", "add", "demo", "bob", "owner").returncode == 0
    assert stockade(index, "role", "remove", "demo", "alice").returncode == 0
    assert roles(index) == {"bob": "Owner"}
