"""Upstreams (add, list, remove, the ones from settings) and refreshing one project's page.

:meth:`Mirror.refresh` is the one way a page is fetched: it takes the project's lease
(``MirrorProject.lease_until``, so one worker refreshes a name at a time across workers), asks
the upstreams in priority order (the first that has the name serves it), and applies the answer
in one write transaction (:func:`stockade.mirror.sync.apply_page`). The network is never used
inside a transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name
from sqlalchemy import Select, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.config import Settings, UpstreamSettings
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.index.models import File, Project
from stockade.index.provenance import FileProvenance, store_provenance
from stockade.index.state import journal, rerender
from stockade.mirror.errors import MirrorError
from stockade.mirror.models import (
    DEFAULT_COOLDOWN_DAYS,
    DEFAULT_TTL_SECONDS,
    FILE_HELD,
    PROJECT_ERROR,
    PROJECT_OK,
    MirrorFile,
    MirrorName,
    MirrorProject,
    MirrorUpstream,
)
from stockade.mirror.rules import upstream_allowed
from stockade.mirror.sync import SyncReport, apply_page, reconcile
from stockade.mirror.upstream import PageResult, UpstreamClient, UpstreamError, client_for

__all__ = [
    "LEASE",
    "Mirror",
    "Refreshed",
    "add_upstream",
    "apply_settings",
    "enabled_upstreams",
    "remove_upstream",
]

log = logging.getLogger(__name__)

# Names written per statement when a project list is imported.
_BATCH = 500

# How long a refresher holds a project's lease (longer than any fetch with its retries).
LEASE = dt.timedelta(seconds=120)


def enabled_upstreams(session: Session) -> list[MirrorUpstream]:
    return list(
        session.scalars(
            select(MirrorUpstream)
            .where(MirrorUpstream.enabled.is_(True))
            .order_by(MirrorUpstream.priority, MirrorUpstream.id)
        )
    )


def add_upstream(
    session: Session,
    name: str,
    url: str,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    cooldown_days: float = DEFAULT_COOLDOWN_DAYS,
    priority: int | None = None,
    files_url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    from_settings: bool = False,
    origin: Origin,
    actor_id: int | None,
) -> MirrorUpstream:
    """Add (or change) an upstream."""
    if not url.startswith(("http://", "https://")):
        raise MirrorError(400, f"The upstream URL must start with http:// or https://: {url!r}")
    if ttl_seconds < 0 or cooldown_days < 0:
        raise MirrorError(400, "The TTL and the cooldown cannot be negative.")
    if not name or len(name) > 100 or not name.replace("-", "").replace("_", "").isalnum():
        raise MirrorError(400, f"Invalid upstream name {name!r}: letters, digits, - and _.")
    url = url if url.endswith("/") else url + "/"
    row = session.scalar(select(MirrorUpstream).where(MirrorUpstream.name == name))
    created = row is None
    if row is None:
        if priority is None:
            top = session.scalar(
                select(MirrorUpstream.priority).order_by(MirrorUpstream.priority.desc()).limit(1)
            )
            priority = 0 if top is None else top + 1
        row = MirrorUpstream(name=name, url=url, priority=priority)
        session.add(row)
    row.url, row.ttl_seconds, row.cooldown_days = url, ttl_seconds, cooldown_days
    if priority is not None:
        row.priority = priority
    row.files_url = files_url or None
    row.username, row.password = username or None, password or None
    row.from_settings = from_settings
    row.enabled = True
    session.flush()
    record(
        session,
        "mirror:upstream:add" if created else "mirror:upstream:change",
        origin=origin,
        actor_id=actor_id,
        summary=(
            f"upstream {name} ({url}) {'added' if created else 'changed'}: pages kept "
            f"{ttl_seconds} s, files held back {cooldown_days:g} day(s)"
        ),
        name=name,
        url=url,
        ttl_seconds=ttl_seconds,
        cooldown_days=cooldown_days,
    )
    return row


def remove_upstream(session: Session, name: str, *, origin: Origin, actor_id: int | None) -> None:
    """Forget an upstream and its cache records (index rows it made stay, as pages served)."""
    row = session.scalar(select(MirrorUpstream).where(MirrorUpstream.name == name))
    if row is None:
        raise MirrorError(404, f"No upstream named {name!r}.")
    session.execute(delete(MirrorUpstream).where(MirrorUpstream.id == row.id))
    record(
        session,
        "mirror:upstream:remove",
        origin=origin,
        actor_id=actor_id,
        summary=f"upstream {name} removed",
        name=name,
    )


def apply_settings(session: Session, configured: Iterable[UpstreamSettings]) -> None:
    """Make the upstream rows match settings (``[[upstream]]``, STOCKADE_UPSTREAM_URL): rows
    from settings are added, changed, or disabled when settings no longer name them."""
    wanted = {u.name: u for u in configured}
    rows = {r.name: r for r in session.scalars(select(MirrorUpstream))}
    for name, up in wanted.items():
        row = rows.get(name)
        url = up.url if up.url.endswith("/") else up.url + "/"
        same = (
            row is not None
            and row.enabled
            and (row.url, row.ttl_seconds, row.cooldown_days, row.files_url or "")
            == (url, up.ttl_seconds, up.cooldown_days, up.files_url)
            and (row.username or "", row.password or "") == (up.username, up.password)
        )
        if same:
            continue
        add_upstream(
            session,
            name,
            url,
            ttl_seconds=up.ttl_seconds,
            cooldown_days=up.cooldown_days,
            priority=up.priority,
            files_url=up.files_url,
            username=up.username,
            password=up.password,
            from_settings=True,
            origin=Origin(user_agent="stockade-settings"),
            actor_id=None,
        )
    for name, row in rows.items():
        if row.from_settings and row.enabled and name not in wanted:
            row.enabled = False


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: ``outcome`` is ``ok``, ``missing``, ``error`` (upstream failed;
    ``error`` says why), ``busy`` (another worker holds the lease), ``local`` (the name is
    not the mirror's) or ``none`` (no upstream)."""

    outcome: str
    report: SyncReport | None = None
    error: str | None = None
    fresh_until: dt.datetime | None = None


class Mirror:
    """The mirror's refresh service for one process (a web worker, the CLI, a job)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        announce: Callable[[str], None] | None = None,
        client_factory: Callable[[MirrorUpstream], UpstreamClient] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.announce = announce or (lambda name: None)
        self._client_factory = client_factory or self._default_client
        self._clients: dict[tuple[int, str], UpstreamClient] = {}

    def _default_client(self, upstream: MirrorUpstream) -> UpstreamClient:
        return client_for(
            upstream,
            timeout=self.settings.mirror_timeout,
            max_page_bytes=self.settings.mirror_max_page_bytes,
        )

    def client(self, upstream: MirrorUpstream) -> UpstreamClient:
        key = (upstream.id, upstream.url)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._client_factory(upstream)
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def apply_settings(self) -> None:
        """Make the upstream rows match settings. Every worker does this at start: when two
        add the same upstream at once, the loser finds the winner's row on its second try."""
        for attempt in (1, 2):
            try:
                with self.db.write() as session:
                    apply_settings(session, self.settings.upstreams)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    # -- refreshing ------------------------------------------------------------------------------
    def refresh(self, name: str, *, force: bool = False) -> Refreshed:
        """Fetch the name's page from its upstreams now (unless another worker is at it, or,
        without ``force``, someone refreshed it within its TTL)."""
        normalized = canonicalize_name(name)
        with self.db.read() as session:
            upstreams = enabled_upstreams(session)
            session.expunge_all()
        if not upstreams:
            return Refreshed("none")
        last: Refreshed | None = None
        for upstream in upstreams:
            outcome = self._refresh_from(upstream, normalized, force=force)
            if outcome.outcome in ("ok", "busy", "error"):
                return outcome
            if outcome.outcome == "missing" or last is None:
                last = outcome
        assert last is not None
        return last

    def _refresh_from(self, upstream: MirrorUpstream, normalized: str, *, force: bool) -> Refreshed:
        now = utcnow()
        with self.db.write() as session:
            if not upstream_allowed(session, normalized, upstream):
                return Refreshed("local")
            mp = _mirror_project(session, upstream.id, normalized)
            if (
                not force
                and mp.checked_at is not None
                and mp.status != PROJECT_ERROR
                and mp.checked_at + dt.timedelta(seconds=upstream.ttl_seconds) > now
            ):
                outcome = "ok" if mp.status == PROJECT_OK else "missing"
                until = mp.checked_at + dt.timedelta(seconds=upstream.ttl_seconds)
                return Refreshed(outcome, fresh_until=until)
            taken = session.execute(
                update(MirrorProject)
                .where(
                    MirrorProject.id == mp.id,
                    or_(MirrorProject.lease_until.is_(None), MirrorProject.lease_until < now),
                )
                .values(lease_until=now + LEASE)
            ).rowcount  # type: ignore[attr-defined]  # CursorResult of an UPDATE
            if not taken:
                return Refreshed("busy")
            mp_id, etag = mp.id, mp.etag
            # Without a published file there is nothing a 304 could keep: ask for the page.
            if mp.project_id is None:
                etag = None
        try:
            result: PageResult = self.client(upstream).fetch_project(normalized, etag=etag)
        except UpstreamError as exc:
            error = str(exc)
            log.warning("upstream %s: %s", upstream.name, error)
            with self.db.write() as session:
                failed = session.get(MirrorProject, mp_id)
                if failed is not None:
                    failed.checked_at, failed.last_error = utcnow(), error
                    failed.lease_until = None
                    if failed.fetched_at is None:
                        failed.status = PROJECT_ERROR
            return Refreshed("error", error=error)
        except BaseException:
            with self.db.write() as session:
                session.execute(
                    update(MirrorProject).where(MirrorProject.id == mp_id).values(lease_until=None)
                )
            raise
        with self.db.write() as session:
            current = session.get(MirrorProject, mp_id)
            assert current is not None
            up = session.get(MirrorUpstream, upstream.id)
            assert up is not None
            report = apply_page(session, up, current, result)
            current.lease_until = None
            outcome = "missing" if result.outcome == "missing" else "ok"
            until = utcnow() + dt.timedelta(seconds=up.ttl_seconds)
        if report.changed:
            self.announce(normalized)
        if report.published:
            self._import_provenance(upstream, mp_id)
        return Refreshed(outcome, report=report, fresh_until=until)

    def _import_provenance(self, upstream: MirrorUpstream, mp_id: int) -> None:
        """PEP 740: the provenance upstream serves for newly published files, verified against
        each file and the publishers it names (as an upload's attestations are), then stored
        and linked from the pages like a local upload's. Provenance that does not verify is
        not served, and the refusal is an event."""
        with self.db.read() as session:
            rows = session.execute(
                select(
                    MirrorFile.file_id,
                    MirrorFile.filename,
                    MirrorFile.sha256,
                    MirrorFile.provenance_url,
                ).where(
                    MirrorFile.mirror_project_id == mp_id,
                    MirrorFile.file_id.is_not(None),
                    MirrorFile.provenance_url.is_not(None),
                    ~exists().where(FileProvenance.file_id == MirrorFile.file_id),
                )
            ).all()
        if not rows:
            return
        from stockade.attestations.errors import AttestationUploadError
        from stockade.attestations.verify import verify_provenance  # heavy: on first use

        for file_id, filename, sha256, url in rows:
            assert file_id is not None and url is not None  # selected so
            try:
                raw = self.client(upstream).fetch_provenance(url)
            except UpstreamError as exc:
                log.warning("provenance of %s: %s", filename, exc)
                continue
            if raw is None:
                continue
            try:
                provenance: dict[str, Any] | None = verify_provenance(
                    raw,
                    filename=filename,
                    sha256=sha256,
                    trust_root=self.settings.sigstore_trust_root,
                )
                refusal = None
            except AttestationUploadError as exc:
                provenance, refusal = None, str(exc)
            with self.db.write() as session:
                row = session.get(File, file_id)
                if row is None:
                    continue
                project = session.get(Project, row.project_id)
                assert project is not None
                if provenance is None:
                    record(
                        session,
                        "mirror:provenance:refused",
                        origin=Origin(user_agent="stockade-mirror"),
                        project_id=project.id,
                        summary=f"provenance of {filename} from {upstream.name} not served: "
                        f"{refusal}",
                        filename=filename,
                        upstream=upstream.name,
                    )
                    continue
                store_provenance(session, file_id, provenance)
                journal(session, project, f"add provenance {filename}", version=None, user_id=None)
                rerender(session, project)
                name = project.normalized_name
            self.announce(name)

    def sync_project_list(self, upstream_name: str) -> tuple[int, int]:
        """Import the upstream's whole project list (its simple root) for ``/simple/``: names
        added and removed since the last import; nothing is read again while the root's ETag
        or serial is unchanged. Returns (added, removed)."""
        with self.db.read() as session:
            upstream = session.scalar(
                select(MirrorUpstream).where(MirrorUpstream.name == upstream_name)
            )
            if upstream is None:
                raise MirrorError(404, f"No upstream named {upstream_name!r}.")
            session.expunge(upstream)
        try:
            result = self.client(upstream).fetch_list(
                etag=upstream.list_etag, max_bytes=self.settings.mirror_max_list_bytes
            )
        except UpstreamError as exc:
            raise MirrorError(502, str(exc)) from exc
        unchanged = result.outcome == "not-modified" or (
            result.serial is not None and result.serial == upstream.list_serial
        )
        added = removed = 0
        with self.db.write() as session:
            row = session.get(MirrorUpstream, upstream.id)
            assert row is not None
            if not unchanged:
                wanted = {norm: name for name, norm in result.names}
                have = set(
                    session.scalars(
                        select(MirrorName.normalized_name).where(
                            MirrorName.upstream_id == upstream.id
                        )
                    )
                )
                new = [
                    {"upstream_id": upstream.id, "name": wanted[n], "normalized_name": n}
                    for n in sorted(wanted.keys() - have)
                ]
                gone = sorted(have - wanted.keys())
                for i in range(0, len(new), _BATCH):
                    session.execute(insert(MirrorName), new[i : i + _BATCH])
                for i in range(0, len(gone), _BATCH):
                    session.execute(
                        delete(MirrorName).where(
                            MirrorName.upstream_id == upstream.id,
                            MirrorName.normalized_name.in_(gone[i : i + _BATCH]),
                        )
                    )
                added, removed = len(new), len(gone)
                row.list_etag, row.list_serial = result.etag, result.serial
            row.list_synced_at = utcnow()
        return added, removed

    def promote(self, now: dt.datetime | None = None) -> list[str]:
        """Publish every held file that has matured (or been exempted); the names changed."""
        now = now or utcnow()
        changed: list[str] = []
        with self.db.read() as session:
            ids = list(
                session.scalars(
                    select(MirrorProject.id).where(
                        MirrorProject.status == PROJECT_OK,
                        MirrorProject.id.in_(_held_projects()),
                    )
                )
            )
        for mp_id in ids:
            with self.db.write() as session:
                mp = session.get(MirrorProject, mp_id)
                if mp is None:
                    continue
                upstream = session.get(MirrorUpstream, mp.upstream_id)
                assert upstream is not None
                report = reconcile(session, upstream, mp, now=now)
                name = mp.normalized_name
                session.expunge(upstream)
            if report.changed:
                changed.append(name)
                self.announce(name)
            if report.published:
                self._import_provenance(upstream, mp_id)
        return changed

    def due(self, now: dt.datetime | None = None) -> list[str]:
        """Cached names not checked within ``mirror_recheck_seconds``."""
        now = now or utcnow()
        cutoff = now - dt.timedelta(seconds=self.settings.mirror_recheck_seconds)
        with self.db.read() as session:
            return sorted(
                set(
                    session.scalars(
                        select(MirrorProject.normalized_name).where(
                            or_(
                                MirrorProject.checked_at.is_(None),
                                MirrorProject.checked_at < cutoff,
                            )
                        )
                    )
                )
            )


def _held_projects() -> Select[Any]:
    return select(MirrorFile.mirror_project_id).where(MirrorFile.state == FILE_HELD)


def _mirror_project(session: Session, upstream_id: int, normalized: str) -> MirrorProject:
    mp = session.scalar(
        select(MirrorProject).where(
            MirrorProject.upstream_id == upstream_id, MirrorProject.normalized_name == normalized
        )
    )
    if mp is not None:
        return mp
    try:
        with session.begin_nested():
            mp = MirrorProject(upstream_id=upstream_id, normalized_name=normalized)
            session.add(mp)
    except IntegrityError:
        mp = session.scalar(
            select(MirrorProject).where(
                MirrorProject.upstream_id == upstream_id,
                MirrorProject.normalized_name == normalized,
            )
        )
        assert mp is not None
    return mp
