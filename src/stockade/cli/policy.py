"""The 2FA-policy commands of `stockade admin`: pin a project as critical, remove the pin.

Critical is permanent: 'unpin-critical' removes only the administrator's pin, never the
designation, so the project's maintainers still need 2FA under the 'critical' policy.
"""

from __future__ import annotations

from stockade.cli.admin import app as admin_app
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, open_db
from stockade.index.project_settings import PinResult, pin_critical, unpin_critical
from stockade.index.rules import find_project

__all__: list[str] = []


def _apply(project: str, data: DataOpt, *, pin: bool) -> tuple[str, PinResult]:
    _, db = open_db(data)
    try:
        with db.write() as session:
            found = find_project(session, project)
            if found is None:
                raise fail(f"no project named {project!r}")
            service = pin_critical if pin else unpin_critical
            return found.name, service(session, project=found, origin=CLI_ORIGIN)
    finally:
        db.dispose()


@admin_app.command("pin-critical")
def pin_critical_command(project: str, data: DataOpt = None) -> None:
    """Pin PROJECT as critical: its maintainers need 2FA (policy 'critical'), for good."""
    name, result = _apply(project, data, pin=True)
    if not result.changed:
        err.print(f"{name} is already pinned as critical")
    elif result.was_critical:
        err.print(f"{name} was already critical; it is now also pinned")
    else:
        err.print(f"{name} is now critical (pinned)")


@admin_app.command("unpin-critical")
def unpin_critical_command(project: str, data: DataOpt = None) -> None:
    """Remove PROJECT's critical pin. It stays critical: critical is permanent."""
    name, result = _apply(project, data, pin=False)
    if not result.changed:
        err.print(f"{name} is not pinned")
    else:
        err.print(f"{name} is no longer pinned; it stays critical (critical is permanent)")
