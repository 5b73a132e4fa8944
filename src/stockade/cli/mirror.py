"""`stockade mirror …`: upstream indexes, origin rules, the cooldown, pre-fetching, purging.

The operator's actions are events made from the command line with no acting user. Running
servers see new upstreams within seconds and changed pages through the journal.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import typer
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.advisories.queries import any_imported
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, group, in_transaction, open_db
from stockade.config import Settings
from stockade.db import Database
from stockade.errors import ServiceError
from stockade.index.paths import blob_key
from stockade.mirror import actions, rules
from stockade.mirror.cached import record_stored
from stockade.mirror.fetch import (
    BlobFetcher,
    StoredBlob,
    UpstreamBlob,
    UpstreamFailed,
    file_auth,
)
from stockade.mirror.fetchlock import fetch_locks_for
from stockade.mirror.models import (
    FILE_PUBLISHED,
    ORIGIN_BOTH,
    ORIGIN_LOCAL,
    ORIGIN_UPSTREAM,
    MirrorFile,
    MirrorProject,
    MirrorUpstream,
)
from stockade.mirror.queries import exemptions, held_files, upstream_health
from stockade.mirror.services import Mirror, add_upstream, remove_upstream
from stockade.mirror.views import UNCHECKED, Policy, create_view, remove_view, view_summaries
from stockade.storage import BlobStorage, open_storage

__all__ = ["app", "view_app"]

app = group(help="Upstream indexes mirrored through this one.")
out = Console()

T = TypeVar("T")


def _run(data: DataOpt, action: Callable[[Session], T], *, write: bool = True) -> T:
    return in_transaction(data, action, write=write)


@app.command("add")
def add(
    name: str,
    url: str,
    ttl: Annotated[int, typer.Option("--ttl", help="Seconds a fetched page stays fresh.")] = 600,
    cooldown_days: Annotated[
        float, typer.Option("--cooldown-days", help="Hide files younger than this many days.")
    ] = 0.0,
    priority: Annotated[
        int | None, typer.Option("--priority", help="Lower is asked first (default: last).")
    ] = None,
    files_url: Annotated[
        str | None, typer.Option("--files-url", help="Base URL of a separate files host.")
    ] = None,
    username: Annotated[str | None, typer.Option("--username")] = None,
    password: Annotated[
        str | None, typer.Option("--password", envvar="STOCKADE_UPSTREAM_PASSWORD")
    ] = None,
    data: DataOpt = None,
) -> None:
    """Add (or change) the upstream NAME at URL, its simple root (https://pypi.org/simple/)."""

    def act(s: Session) -> str:
        row = add_upstream(
            s,
            name,
            url,
            ttl_seconds=ttl,
            cooldown_days=cooldown_days,
            priority=priority,
            files_url=files_url,
            username=username,
            password=password,
            origin=CLI_ORIGIN,
            actor_id=None,
        )
        return f"upstream {row.name}: {row.url} (priority {row.priority})"

    err.print(_run(data, act))


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    data: DataOpt = None,
) -> None:
    """The upstreams, their health and what is cached from them."""
    rows = _run(data, upstream_health, write=False)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("name", "url", "ttl", "cooldown", "projects", "failing", "files", "held")
    for r in rows:
        files = r["files"]
        assert isinstance(files, dict)
        table.add_row(
            escape(str(r["name"])) + ("" if r["enabled"] else " (disabled)"),
            escape(str(r["url"])),
            f"{r['ttl_seconds']} s",
            f"{r['cooldown_days']:g} d",
            str(r["projects"]),
            str(r["projects_failing"]),
            str(files["published"]),
            str(files["held"]),
        )
    out.print(table)


@app.command("remove")
def remove(name: str, data: DataOpt = None) -> None:
    """Forget the upstream NAME (projects already served from it stay as they are)."""
    _run(data, lambda s: remove_upstream(s, name, origin=CLI_ORIGIN, actor_id=None))
    err.print(f"upstream {name} removed")


def _mirror(data: DataOpt) -> tuple[Mirror, Database]:
    settings, db = open_db(data)
    mirror = Mirror(db, settings)
    mirror.apply_settings()
    return mirror, db


def _refresh_names(mirror: Mirror, names: Sequence[str], *, label: str) -> int:
    failed = 0
    with Progress(console=err, transient=False) as progress:
        task = progress.add_task(label, total=len(names))
        for name in names:
            outcome = mirror.refresh(name, force=True)
            progress.advance(task)
            if outcome.outcome == "error":
                failed += 1
                progress.console.print(f"[red]{escape(name)}[/]: {escape(outcome.error or '')}")
            elif outcome.outcome == "missing":
                progress.console.print(f"{escape(name)}: not found upstream")
            elif outcome.outcome == "local":
                progress.console.print(f"{escape(name)}: local, not mirrored")
            elif outcome.outcome == "none":
                raise fail("no upstream is configured (stockade mirror add NAME URL)")
            elif outcome.report is not None:
                r = outcome.report
                progress.console.print(
                    f"{escape(name)}: {len(r.published)} published, {r.held} held, "
                    f"{len(r.removed)} removed"
                )
    return failed


@app.command("refresh")
def refresh(
    projects: Annotated[list[str] | None, typer.Argument(help="Default: every cached one.")] = None,
    data: DataOpt = None,
) -> None:
    """Fetch PROJECT pages from upstream now, whatever their TTL; publish matured files."""
    mirror, db = _mirror(data)
    try:
        names: list[str] = [canonicalize_name(p) for p in projects or []]
        if not names:
            with db.read() as s:
                names = sorted(set(s.scalars(select(MirrorProject.normalized_name))))
        failed = _refresh_names(mirror, names, label="refreshing")
        mirror.promote()
    finally:
        mirror.close()
        db.dispose()
    if failed:
        raise typer.Exit(1)


def _requirements(path: Path, seen: set[Path] | None = None) -> list[str]:
    seen = seen or set()
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    names: list[str] = []
    for raw in path.read_text("utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            names += _requirements(path.parent / line.split(None, 1)[1], seen)
            continue
        if line.startswith("-"):
            continue
        try:
            names.append(canonicalize_name(Requirement(line).name))
        except InvalidRequirement as exc:
            raise fail(f"{path}: {exc}") from exc
    return names


@app.command("sync")
def sync(
    projects: Annotated[list[str] | None, typer.Argument()] = None,
    requirement: Annotated[
        list[Path] | None, typer.Option("-r", "--requirement", help="A requirements file.")
    ] = None,
    all_files: Annotated[
        bool,
        typer.Option("--all-files", help="Also fetch every file the pages serve (and metadata)."),
    ] = False,
    project_list: Annotated[
        bool,
        typer.Option(
            "--project-list", help="Import each upstream's whole project list for /simple/."
        ),
    ] = False,
    data: DataOpt = None,
) -> None:
    """Pre-fetch the pages of PROJECTs (or of every name in -r FILE) for offline use; with
    --project-list, import the upstreams' project lists (again: only what changed)."""
    names: list[str] = [canonicalize_name(p) for p in projects or []]
    for path in requirement or []:
        names += _requirements(path)
    names = list(dict.fromkeys(names))
    if project_list:
        _import_lists(data)
        if not names:
            return
    if not names:
        raise fail("name projects, give -r FILE, or --project-list")
    mirror, db = _mirror(data)
    try:
        failed = _refresh_names(mirror, names, label="syncing")
        if all_files:
            failed += _prefetch(mirror.settings, db, names)
    finally:
        mirror.close()
        db.dispose()
    if failed:
        raise typer.Exit(1)


def _import_lists(data: DataOpt) -> None:
    mirror, db = _mirror(data)
    try:
        with db.read() as s:
            upstreams = list(
                s.scalars(
                    select(MirrorUpstream.name)
                    .where(MirrorUpstream.enabled.is_(True))
                    .order_by(MirrorUpstream.priority)
                )
            )
        if not upstreams:
            raise fail("no upstream is configured (stockade mirror add NAME URL)")
        for name in upstreams:
            try:
                added, removed = mirror.sync_project_list(name)
            except ServiceError as exc:
                raise fail(exc.message) from exc
            err.print(f"{escape(name)}: project list: {added} added, {removed} removed")
    finally:
        mirror.close()
        db.dispose()


def _blobs_of(db: Database, names: Sequence[str]) -> list[UpstreamBlob]:
    """The files (and PEP 658 sidecars) the names' pages serve that are not in storage yet."""
    blobs: list[UpstreamBlob] = []
    with db.read() as s:
        rows = s.execute(
            select(MirrorFile, MirrorUpstream)
            .join(MirrorUpstream, MirrorUpstream.id == MirrorFile.upstream_id)
            .join(MirrorProject, MirrorProject.id == MirrorFile.mirror_project_id)
            .where(
                MirrorProject.normalized_name.in_(list(names)),
                MirrorFile.state == FILE_PUBLISHED,
            )
        ).all()
        for f, up in rows:
            # The upstream's credentials go to its own hosts only, as on the web's path: a page
            # must not be able to send them elsewhere by listing a file there.
            auth = file_auth(f.url, up.url, up.files_url, up.username, up.password)
            if not f.cached:
                blobs.append(UpstreamBlob(f.url, f.sha256, f.size, auth, blob_key(f.sha256)))
            if f.core_metadata_sha256 and not f.metadata_cached:
                sha, url = f.core_metadata_sha256, f.url + ".metadata"
                auth = file_auth(url, up.url, up.files_url, up.username, up.password)
                blobs.append(UpstreamBlob(url, sha, None, auth, blob_key(sha)))
    return blobs


def _stored(db: Database, storage: BlobStorage, stored: StoredBlob) -> None:
    # Running servers see a page changed by metadata read from a wheel through the journal.
    record_stored(db, storage, stored)


def _prefetch(settings: Settings, db: Database, names: Sequence[str]) -> int:
    """Fetch every blob of the names' pages into storage, verified; returns how many failed."""
    blobs = _blobs_of(db, names)
    if not blobs:
        return 0
    storage = open_storage(settings.storage_url)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    fetcher = BlobFetcher(
        storage,
        fetch_locks_for(db, settings.tmp_dir / "mirror-locks"),
        tmp_dir=settings.tmp_dir,
        max_bytes=settings.mirror_max_file_size,
        timeout=settings.mirror_timeout,
        on_stored=functools.partial(_stored, db, storage),
    )
    failures: list[str] = []

    async def run(progress: Progress) -> None:
        task = progress.add_task("fetching files", total=len(blobs))
        limit = anyio.Semaphore(4)

        async def one(blob: UpstreamBlob) -> None:
            async with limit:
                try:
                    await fetcher.ensure(blob)
                except UpstreamFailed as exc:
                    failures.append(f"{blob.url}: {exc}")
                progress.advance(task)

        try:
            async with anyio.create_task_group() as tg:
                for blob in blobs:
                    tg.start_soon(one, blob)
        finally:
            await fetcher.aclose()

    try:
        with Progress(console=err) as progress:
            anyio.run(run, progress)
    finally:
        storage.close()
    for failure in failures:
        err.print(f"[red]{escape(failure)}[/]")
    return len(failures)


@app.command("origin")
def origin(
    project: str,
    local: Annotated[bool, typer.Option("--local", help="Local uploads only.")] = False,
    upstream: Annotated[str | None, typer.Option("--upstream", help="This upstream only.")] = None,
    both: Annotated[bool, typer.Option("--both", help="Local first, then upstream.")] = False,
    data: DataOpt = None,
) -> None:
    """Set PROJECT's origin rule (--local also reserves a name that does not exist yet)."""
    if sum((local, upstream is not None, both)) != 1:
        raise fail("give exactly one of --local, --upstream NAME, --both")
    mode = ORIGIN_LOCAL if local else ORIGIN_UPSTREAM if upstream else ORIGIN_BOTH

    def act(s: Session) -> str:
        return actions.set_rule(
            s, project, mode, upstream_name=upstream, origin=CLI_ORIGIN, actor_id=None
        )

    err.print(_run(data, act))


@app.command("cooldown-exempt")
def cooldown_exempt(
    project: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    version: Annotated[
        str | None, typer.Option("--version", help="Only this version (emergency bypass).")
    ] = None,
    days: Annotated[
        float | None, typer.Option("--days", help="Expires after this many days.")
    ] = None,
    data: DataOpt = None,
) -> None:
    """Let PROJECT (or one --version of it) through the cooldown, with a reason."""

    def act(s: Session) -> int:
        return actions.exempt(
            s,
            project,
            version=version,
            reason=reason,
            days=days,
            origin=CLI_ORIGIN,
            actor_id=None,
        )

    published = _run(data, act)
    err.print(f"exemption recorded; {published} held file(s) published")


@app.command("exemptions")
def exemptions_(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data: DataOpt = None,
) -> None:
    """Cooldown exemptions, newest first (revoke one with cooldown-revoke ID)."""

    def act(s: Session) -> list[dict[str, object]]:
        return [
            {
                "id": e.id,
                "project": e.normalized_name,
                "version": e.version,
                "reason": e.reason,
                "expires_at": e.expires_at.isoformat() if e.expires_at else None,
            }
            for e in exemptions(s)
        ]

    rows = _run(data, act, write=False)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "project", "version", "reason", "until (UTC)")
    for r in rows:
        table.add_row(
            str(r["id"]),
            escape(str(r["project"])),
            escape(str(r["version"] or "every version")),
            escape(str(r["reason"])),
            str(r["expires_at"] or "until revoked"),
        )
    out.print(table)


@app.command("cooldown-revoke")
def cooldown_revoke(exemption_id: int, data: DataOpt = None) -> None:
    """End the cooldown exemption ID now (files it let through stay published)."""
    _run(
        data,
        lambda s: rules.revoke_exemption(s, exemption_id, origin=CLI_ORIGIN, actor_id=None),
    )
    err.print(f"exemption {exemption_id} revoked")


@app.command("held")
def held(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data: DataOpt = None,
) -> None:
    """Upstream files held back by the cooldown, and until when."""

    rows = _run(data, held_files, write=False)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("project", "file", "upstream", "held until (UTC)")
    for r in rows:
        table.add_row(
            escape(str(r["project"])),
            escape(str(r["filename"])),
            escape(str(r["upstream"])),
            str(r["held_until"] or "no upload time: until exempted"),
        )
    out.print(table)


@app.command("purge")
def purge(
    project: str,
    reason: Annotated[str, typer.Option("--reason")] = actions.PURGE_REASON,
    data: DataOpt = None,
) -> None:
    """Take PROJECT's upstream copy out of the index and forget its cache records.

    The index project is soft-deleted (blobs kept; 'stockade project restore' brings it
    back), which also keeps its name from being mirrored again until an admin decides."""

    err.print(
        _run(
            data,
            lambda s: actions.purge(s, project, reason=reason, origin=CLI_ORIGIN, actor_id=None),
        )
    )


view_app = group(help="Policy views: /views/NAME/simple/.")


@view_app.command("create")
def view_create(
    name: str,
    min_age_days: Annotated[
        float | None, typer.Option("--min-age-days", help="Leave out files younger than this.")
    ] = None,
    attested_only: Annotated[
        bool, typer.Option("--attested-only", help="Only files with PEP 740 provenance.")
    ] = False,
    trusted_publishing_only: Annotated[
        bool,
        typer.Option("--trusted-publishing-only", help="Only files sent by trusted publishing."),
    ] = False,
    min_downloads: Annotated[
        int | None,
        typer.Option("--min-downloads", help="Only projects downloaded this often (window)."),
    ] = None,
    maintainers_2fa: Annotated[
        bool,
        typer.Option("--maintainers-2fa", help="Local projects: every maintainer has 2FA."),
    ] = False,
    no_known_vulns: Annotated[
        bool,
        typer.Option("--no-known-vulns", help="Leave out versions an imported advisory affects."),
    ] = False,
    allow: Annotated[
        list[str] | None, typer.Option("--allow", help="Only these (NAME or NAME<SPEC).")
    ] = None,
    deny: Annotated[
        list[str] | None, typer.Option("--deny", help="Never these (NAME or NAME<SPEC).")
    ] = None,
    data: DataOpt = None,
) -> None:
    """Create (or replace) the view NAME, served at /views/NAME/simple/."""

    def act(s: Session) -> str:
        view = create_view(
            s,
            name,
            min_age_days=min_age_days,
            attested_only=attested_only,
            trusted_publishing_only=trusted_publishing_only,
            min_downloads=min_downloads,
            maintainers_2fa=maintainers_2fa,
            no_known_vulns=no_known_vulns,
            allow=allow,
            deny=deny,
            origin=CLI_ORIGIN,
            actor_id=None,
        )
        said = f"view {view.name} at /views/{view.name}/simple/: {Policy.of(view).describe()}"
        if no_known_vulns and not any_imported(s):
            said += (
                f"\nwarning: {UNCHECKED} until `stockade advisories import` has run"
                " (or the advisories-import job, with advisory_urls set)"
            )
        return said

    err.print(_run(data, act))


@view_app.command("list")
def view_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data: DataOpt = None,
) -> None:
    """The policy views and their rules."""

    rows = _run(data, view_summaries, write=False)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        out.print(f"{escape(str(r['name']))}: {escape(str(r['rules']))}")


@view_app.command("remove")
def view_remove(name: str, data: DataOpt = None) -> None:
    """Remove the view NAME."""
    _run(data, lambda s: remove_view(s, name, origin=CLI_ORIGIN, actor_id=None))
    err.print(f"view {name} removed")
