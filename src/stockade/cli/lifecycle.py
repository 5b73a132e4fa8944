"""`stockade release …`, `stockade project …` and the lifecycle commands of `stockade admin`.

These are the operator's actions: they are recorded as events made from the command line with
no acting user, and the deletion policy for critical projects does not apply to them (the
operator is the index's administrator). Running servers notice the change through the journal
within their poll interval.
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

from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, group, open_db
from stockade.index.models import Project
from stockade.lifecycle import services
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.queries import ProjectReport, project_report
from stockade.stats.counts import recent_downloads

__all__ = ["project_app", "release_app"]

release_app = group(help="Releases: yank and unyank, and held uploads: list and confirm.")
project_app = group(help="Projects: show, delete, archive.")

T = TypeVar("T")


def _run(data: DataOpt, action: Callable[[Session], T], *, write: bool = True) -> T:
    """Run 'action' in one transaction; a refusal exits 1 with its message."""
    _, db = open_db(data)
    try:
        if write:
            # Lifecycle changes only write rows: retried whole on a busy database or a deadlock.
            return db.run_write(action)
        with db.read() as session:
            return action(session)
    except LifecycleError as exc:
        raise fail(exc.message) from exc
    finally:
        db.dispose()


def _project(session: Session, name: str) -> Project:
    project = services.find_project(session, name)
    if project is None:
        raise LifecycleError(404, f"no project named {name!r}")
    return project


@release_app.command("yank")
def release_yank(
    project: str,
    version: str,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (shown to users).")] = None,
    data: DataOpt = None,
) -> None:
    """Yank VERSION of PROJECT (PEP 592): installers skip it unless it is pinned."""

    def act(s: Session) -> str:
        p = _project(s, project)
        r = services.yank(s, p, version, reason, origin=CLI_ORIGIN, actor_id=None, admin=True)
        return f"yanked {p.name} {r.version}"

    err.print(_run(data, act))


@release_app.command("unyank")
def release_unyank(project: str, version: str, data: DataOpt = None) -> None:
    """Make a yanked VERSION of PROJECT installable again."""

    def act(s: Session) -> str:
        p = _project(s, project)
        r = services.unyank(s, p, version, origin=CLI_ORIGIN, actor_id=None, admin=True)
        return f"unyanked {p.name} {r.version}"

    err.print(_run(data, act))


@project_app.command("delete")
def project_delete(
    project: str,
    version: Annotated[str | None, typer.Argument(help="Delete only this release.")] = None,
    file: Annotated[str | None, typer.Option("--file", help="Delete only this file.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm the deletion.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the log).")] = None,
    data: DataOpt = None,
) -> None:
    """Delete PROJECT, one release of it (VERSION), or one file (--file FILENAME).

    Deletion is soft (an administrator can restore it), but the filenames can never be uploaded
    again and installs pinned to the deleted files break. Requires --yes."""
    if not yes:
        raise fail("deleting breaks every install pinned to these files; add --yes to confirm")

    def act(s: Session) -> str:
        p = _project(s, project)
        if file is not None:
            f = services.delete_file(
                s, p, file, origin=CLI_ORIGIN, actor_id=None, admin=True, reason=reason
            )
            return f"deleted {f.filename} of {p.name}"
        if version is not None:
            r = services.delete_release(
                s, p, version, origin=CLI_ORIGIN, actor_id=None, admin=True, reason=reason
            )
            return f"deleted {p.name} {r.version}"
        services.delete_project(s, p, origin=CLI_ORIGIN, actor_id=None, admin=True, reason=reason)
        return f"deleted project {p.name}"

    err.print(_run(data, act))


@project_app.command("archive")
def project_archive(
    project: str,
    reason: Annotated[str | None, typer.Option("--reason", help="Shown with the status.")] = None,
    data: DataOpt = None,
) -> None:
    """Archive PROJECT (PEP 792): read-only, uploads refused."""

    def act(s: Session) -> str:
        p = _project(s, project)
        services.archive(s, p, reason, origin=CLI_ORIGIN, actor_id=None, admin=True)
        return f"archived {p.name}"

    err.print(_run(data, act))


@project_app.command("unarchive")
def project_unarchive(project: str, data: DataOpt = None) -> None:
    """Make an archived PROJECT active again."""

    def act(s: Session) -> str:
        p = _project(s, project)
        services.unarchive(s, p, origin=CLI_ORIGIN, actor_id=None)
        return f"unarchived {p.name}"

    err.print(_run(data, act))


@project_app.command("show")
def project_show(
    project: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (see above).")] = False,
    data: DataOpt = None,
) -> None:
    """Show PROJECT's status, critical designation, releases and files (deleted ones too).

    The status is active, archived, quarantined, deprecated or deleted. With --json, prints
    one object: name, status, critical, and releases (newest first), each with version,
    yanked, yanked_reason, deleted and files (filename, sha256, size, upload_time, deleted)."""
    report = _run(data, lambda s: project_report(s, _project(s, project)), write=False)
    if as_json:
        doc = report.as_json()
        # Downloads over the last day, week and month (stockade.stats).
        doc["downloads"] = _run(
            data, lambda s: recent_downloads(s, _project(s, project).id).as_dict(), write=False
        )
        typer.echo(json.dumps(doc, indent=2))
        return
    _print_report(report)


def _print_report(report: ProjectReport) -> None:
    out = Console()
    critical = ", critical" if report.critical else ""
    reason = f": {report.status_reason}" if report.status_reason else ""
    out.print(f"[bold]{escape(report.name)}[/] ({report.status}{critical}){escape(reason)}")
    table = Table(title="Releases", title_justify="left")
    for column in ("version", "state", "file", "size", "uploaded (UTC)", "sha256"):
        table.add_column(column)
    for r in report.releases:
        state = "deleted" if r.deleted else ("yanked" if r.yanked else "available")
        if r.yanked and r.yanked_reason:
            state += f" ({r.yanked_reason})"
        for i, f in enumerate(r.files or [None]):
            if f is None:
                table.add_row(escape(r.version), state, "—", "", "", "")
                continue
            table.add_row(
                escape(r.version) if i == 0 else "",
                escape(state) if i == 0 else "",
                escape(f.filename) + (" [red](deleted)[/]" if f.deleted else ""),
                str(f.size),
                f.upload_time.strftime("%Y-%m-%d %H:%M:%S"),
                f.sha256[:16] + "…",
            )
    out.print(table if report.releases else "No releases.")


# `stockade admin restore` is registered by stockade.cli.upkeep, which also restores backups.
def admin_restore(
    project: str,
    version: Annotated[str | None, typer.Argument(help="Restore only this release.")] = None,
    file: Annotated[str | None, typer.Option("--file", help="Restore only this file.")] = None,
    data: DataOpt = None,
) -> None:
    """Bring back a deleted PROJECT, release (VERSION) or file (--file FILENAME).

    What comes back is exactly what was deleted: the same rows, hashes and upload times. A
    file's or release's deleted project (and a file's deleted release) comes back with it."""
    err.print(
        _run(
            data,
            lambda s: services.restore(s, project, version, file, origin=CLI_ORIGIN, actor_id=None),
        )
    )
