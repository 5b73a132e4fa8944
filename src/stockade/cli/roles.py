"""`stockade role …`: project roles from the shell.

An operator's action: roles are given directly, without an invitation, and recorded as events
made from the CLI. A project always keeps at least one owner.
"""

from __future__ import annotations

from enum import StrEnum

from stockade.accounts.services import find_user
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, group, open_db
from stockade.index.roles import RoleError, add_role, find_project, remove_user_role

__all__ = ["app"]

app = group(help="Manage project roles.")


class RoleChoice(StrEnum):
    """The roles a user can have on a project."""

    owner = "owner"
    maintainer = "maintainer"


@app.command("add")
def role_add(project: str, user: str, role: RoleChoice, data: DataOpt = None) -> None:
    """Give USER the ROLE (owner or maintainer) on PROJECT, without an invitation."""
    _, db = open_db(data)
    try:
        with db.write() as session:
            found = find_project(session, project)
            if found is None:
                raise fail(f"no project named {project!r}")
            member = find_user(session, user)
            if member is None:
                raise fail(f"no user named {user!r}")
            added = add_role(
                session, project=found, user=member, role_name=role.value, origin=CLI_ORIGIN
            )
            summary = f"{member.username} is now {added.role_name} of {found.name}"
    except RoleError as exc:
        raise fail(exc.message) from exc
    finally:
        db.dispose()
    err.print(summary)


@app.command("remove")
def role_remove(project: str, user: str, data: DataOpt = None) -> None:
    """Remove USER's role on PROJECT (never the last owner's)."""
    _, db = open_db(data)
    try:
        with db.write() as session:
            found = find_project(session, project)
            if found is None:
                raise fail(f"no project named {project!r}")
            member = find_user(session, user)
            if member is None:
                raise fail(f"no user named {user!r}")
            removed = remove_user_role(session, project=found, user=member, origin=CLI_ORIGIN)
            summary = f"{member.username} is no longer {removed} of {found.name}"
    except RoleError as exc:
        raise fail(exc.message) from exc
    finally:
        db.dispose()
    err.print(summary)
