"""The abuse commands of `stockade admin`: quarantine, clear, remove, prohibit, unprohibit,
trust-reporter, reports.

These are the operator's actions: recorded as events made from the command line with no acting
user. Owners are emailed after the change has committed; running servers notice it through the
journal within their poll interval.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from stockade.abuse.errors import AbuseError
from stockade.abuse.naming import prohibit, prohibited_names, unprohibit
from stockade.abuse.quarantine import Mailing, clear, quarantine, remove
from stockade.abuse.reports import ProjectReports, open_queue
from stockade.abuse.trust import set_trusted
from stockade.accounts.services import find_user
from stockade.cli.admin import app as admin_app
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, open_db, settings_from
from stockade.index.models import Project
from stockade.lifecycle.changes import find_project
from stockade.lifecycle.errors import LifecycleError
from stockade.mail import Message, deliver, mailer_from_settings

__all__: list[str] = []

T = TypeVar("T")

ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the event).")]


def _run(data: DataOpt, action: Callable[[Session, Mailing], T]) -> T:
    """Run 'action' in one write transaction; a refusal exits 1 with its message."""
    settings, db = open_db(data)
    mailing = Mailing(site_name=settings.site_name, base_url=settings.base_url)
    try:
        with db.write() as session:
            return action(session, mailing)
    except (AbuseError, LifecycleError) as exc:
        raise fail(exc.message) from exc
    finally:
        db.dispose()


def _run_and_mail(data: DataOpt, action: Callable[[Session, Mailing], list[Message]]) -> None:
    """'_run' an action that tells the owners; the mail goes once the change has committed."""
    messages = _run(data, action)
    deliver(mailer_from_settings(settings_from(data)), *messages)


def _project(session: Session, name: str) -> Project:
    project = find_project(session, name)
    if project is None or project.deletion_id is not None:
        raise AbuseError(404, f"no project named {name!r}")
    return project


@admin_app.command("quarantine")
def admin_quarantine(project: str, reason: ReasonOpt = None, data: DataOpt = None) -> None:
    """Quarantine PROJECT: it leaves /simple/ and installers, uploads and role changes are
    refused, its page is shown only to owners and administrators; owners are emailed."""
    _run_and_mail(
        data,
        lambda s, m: quarantine(
            s, _project(s, project), reason, origin=CLI_ORIGIN, actor_id=None, mailing=m
        ),
    )
    err.print(f"quarantined {project}")


@admin_app.command("clear")
def admin_clear(project: str, data: DataOpt = None) -> None:
    """Clear PROJECT's quarantine: active again, its open reports resolved; owners emailed."""
    _run_and_mail(
        data,
        lambda s, m: clear(s, _project(s, project), origin=CLI_ORIGIN, actor_id=None, mailing=m),
    )
    err.print(f"cleared {project}")


@admin_app.command("remove")
def admin_remove(
    project: str,
    reason: ReasonOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do it (no question asked).")] = False,
    data: DataOpt = None,
) -> None:
    """Remove a malicious PROJECT: delete it (an administrator can restore it) and prohibit its
    name; its open reports are resolved and its owners emailed."""
    if not yes:
        raise fail(f"this deletes {project} and prohibits its name: add --yes to go ahead", 2)
    _run_and_mail(
        data,
        lambda s, m: remove(
            s, _project(s, project), reason, origin=CLI_ORIGIN, actor_id=None, mailing=m
        ),
    )
    err.print(f"removed {project}; its name is prohibited")


@admin_app.command("prohibit")
def admin_prohibit(name: str, reason: ReasonOpt = None, data: DataOpt = None) -> None:
    """Prohibit NAME (and names that look the same) for new projects. An existing project of
    that name keeps it."""
    entry = _run(
        data,
        lambda s, m: prohibit(s, name, reason, origin=CLI_ORIGIN, actor_id=None).normalized_name,
    )
    err.print(f"prohibited {entry}")


@admin_app.command("unprohibit")
def admin_unprohibit(name: str, data: DataOpt = None) -> None:
    """Allow a prohibited NAME again."""
    entry = _run(data, lambda s, m: unprohibit(s, name, origin=CLI_ORIGIN, actor_id=None))
    err.print(f"{entry} is no longer prohibited")


@admin_app.command("prohibited")
def admin_prohibited(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    data: DataOpt = None,
) -> None:
    """List the prohibited names."""
    rows = _run(
        data,
        lambda s, m: [
            {
                "name": n.normalized_name,
                "reason": n.reason,
                "created_at": n.created_at.isoformat(),
            }
            for n in prohibited_names(s)
        ],
    )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['name']}\t{row['reason'] or ''}")


def _set_trust(user: str, trusted: bool, data: DataOpt) -> None:
    def action(session: Session, mailing: Mailing) -> bool:
        account = find_user(session, user)
        if account is None:
            raise AbuseError(404, f"no user named {user!r}")
        return set_trusted(session, account, trusted, origin=CLI_ORIGIN, actor_id=None)

    changed = _run(data, action)
    state = "a trusted reporter" if trusted else "not a trusted reporter"
    err.print(f"{user} is {'now' if changed else 'already'} {state}")


@admin_app.command("trust-reporter")
def admin_trust_reporter(
    user: str,
    untrust: Annotated[
        bool, typer.Option("--untrust", help="Stop trusting USER's reports instead.")
    ] = False,
    data: DataOpt = None,
) -> None:
    """Mark USER as a trusted reporter: their report quarantines a project younger than 24
    hours at once, and reports from two people, one of them trusted, do too."""
    _set_trust(user, not untrust, data)


@admin_app.command("distrust-reporter")
def admin_distrust_reporter(user: str, data: DataOpt = None) -> None:
    """Stop trusting USER's reports (the same as trust-reporter --untrust)."""
    _set_trust(user, False, data)


def _queue_json(queue: list[ProjectReports]) -> list[dict[str, object]]:
    return [
        {
            "project": p.name,
            "normalized_name": p.normalized_name,
            "status": p.status,
            "status_reason": p.status_reason,
            "created_at": p.created_at.isoformat(),
            "owners": p.owners,
            "reports": [
                {
                    "id": r.id,
                    "version": r.version,
                    "reporter": r.reporter,
                    "trusted": r.trusted,
                    "reason": r.reason,
                    "evidence": r.evidence,
                    "via": r.via,
                    "created_at": r.created_at.isoformat(),
                }
                for r in p.reports
            ],
        }
        for p in queue
    ]


@admin_app.command("reports")
def admin_reports(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (see above).")] = False,
    data: DataOpt = None,
) -> None:
    """List open malware reports grouped by project, and quarantined projects (first).

    With --json, prints a list of {project, normalized_name, status, status_reason, created_at,
    owners, reports: [{id, version, reporter, trusted, reason, evidence, via, created_at}]}."""
    doc = _queue_json(_run(data, lambda s, m: open_queue(s)))
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    if not doc:
        err.print("no open reports and no quarantined projects")
        return
    table = Table("project", "status", "reports", "reporters", "latest reason")
    for p in doc:
        reports = p["reports"]
        assert isinstance(reports, list)
        reporters = sorted({f"{r['reporter']}{'*' if r['trusted'] else ''}" for r in reports})
        table.add_row(
            escape(str(p["project"])),
            str(p["status"]),
            str(len(reports)),
            escape(", ".join(reporters)),
            escape(str(reports[-1]["reason"]) if reports else ""),
        )
    Console().print(table)
    err.print("* trusted reporter")
