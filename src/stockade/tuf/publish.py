"""One metadata batch: re-target the projects the journal names since the last batch, re-sign
the bins whose targets changed (or that near expiry), then bins, snapshot and timestamp.

Every page and file is committed (by the write that journaled it) before a batch reads it, so
metadata never point at anything not yet published. The batch is one write transaction, run
by one worker at a time (the job lease, see :mod:`stockade.tuf.job`): a burst of uploads
between two batches costs one snapshot and one timestamp.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import Key, Signer
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session
from tuf.api.metadata import Root, Snapshot, SuccinctRoles, Targets, Timestamp

from stockade.config import Settings
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.index.models import File, JournalEntry, Project, Release, SimplePage
from stockade.index.paths import file_path
from stockade.index.render import with_base_url
from stockade.jobs.models import JobLock
from stockade.tuf.keys import online_signer
from stockade.tuf.models import TufState, TufTarget
from stockade.tuf.roles import (
    BINS,
    EXPIRY,
    bin_number,
    bins_role,
    sign,
    snapshot_role,
    succinct,
    targets_of_bin,
    timestamp_role,
)
from stockade.tuf.store import Current, current_roles, latest_root, prune, store

__all__ = ["PublishResult", "SignerBusy", "page_paths", "pending", "publish"]


@dataclass
class PublishResult:
    """What one batch did."""

    projects: int = 0
    changed_targets: int = 0
    bins: list[str] = field(default_factory=list)
    snapshot: int | None = None
    timestamp: int | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.timestamp is None:
            return "TUF metadata up to date"
        return (
            f"{self.projects} project(s), {self.changed_targets} target change(s), "
            f"{len(self.bins)} bin(s) signed, "
            f"snapshot v{self.snapshot}, timestamp v{self.timestamp}"
        )


def page_paths(name: str) -> tuple[str, str]:
    """A project's two page targets (HTML, JSON)."""
    return f"simple/{name}/index.html", f"simple/{name}/index.json"


def pending(session: Session) -> bool:
    """Whether TUF is on and the journal has moved since the last batch."""
    done = session.scalar(select(TufState.journal_id).where(TufState.id == 1))
    if done is None:
        return False
    return (session.scalar(select(func.max(JournalEntry.id))) or 0) > done


def publish(
    db: Database,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    signer_for: Callable[[Key], Signer] | None = None,
    progress: Callable[[int, int], None] | None = None,
    lease: str | None = None,
) -> PublishResult | None:
    """Run one batch (None while TUF is off). ``signer_for`` replaces the configured online
    signer; ``progress`` is told (done, total) projects.

    With ``lease`` (a job's name), the batch first locks that job's lease row in its own
    transaction and raises :class:`SignerBusy` when someone holds the lease (``run_job``): the
    row lock serializes the workers' batches on PostgreSQL as SQLite's write lock does, with no
    transaction of its own to take and give back the lease."""
    return db.run_write(
        lambda session: _publish(
            session,
            settings.base_url,
            now or utcnow(),
            signer_for or (lambda key: online_signer(settings, key)),
            progress,
            lease,
        )
    )


class SignerBusy(Exception):
    """Another worker holds the signing lease."""


def _take_lease(session: Session, name: str, now: dt.datetime) -> None:
    taken = session.execute(
        update(JobLock)
        .where(
            JobLock.name == name,
            or_(JobLock.locked_until.is_(None), JobLock.locked_until < now),
        )
        .values(holder=JobLock.holder)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
        raise SignerBusy(name)


def _due(current: Current | None, kind: str, now: dt.datetime) -> bool:
    """Missing, or past half its lifetime: signed again (so the hourly job is never late)."""
    return current is None or current.expires - now < EXPIRY[kind] / 2


def _publish(
    session: Session,
    base_url: str,
    now: dt.datetime,
    signer_for: Callable[[Key], Signer],
    progress: Callable[[int, int], None] | None,
    lease: str | None,
) -> PublishResult | None:
    if lease is not None:
        _take_lease(session, lease, now)
    state = session.get(TufState, 1)
    loaded = latest_root(session)
    if state is None or loaded is None:
        return None
    root = loaded[0].signed
    online_key = root.get_key(root.roles[Timestamp.type].keyids[0])
    signer = signer_for(online_key)
    _check_signer(signer, online_key)
    bins = succinct(online_key, state.bit_length)
    result = PublishResult()

    newest = session.scalar(select(func.max(JournalEntry.id))) or 0
    names = _changed_projects(session, state.journal_id, newest)
    dirty: set[int] = set()
    for done, name in enumerate(names, 1):
        changed = _retarget(session, name, base_url, bins)
        result.changed_targets += len(changed)
        dirty.update(changed)
        if progress is not None:
            progress(done, len(names))
    result.projects = len(names)

    current = current_roles(session)
    versions = {
        role: c.version
        for role, c in current.items()
        if role not in (Root.type, Snapshot.type, Timestamp.type)
    }
    resign_all = state.resign_all
    signed_any = False
    if resign_all or _due(current.get(BINS), BINS, now):
        version = current[BINS].version + 1 if BINS in current else 1
        store(
            session,
            BINS,
            sign(bins_role(online_key, state.bit_length, version, now), [signer]),
            now,
        )
        versions[BINS] = version
        signed_any = True
    for number, role in enumerate(bins.get_roles()):
        if number in dirty or resign_all or _due(current.get(role), "bin-n", now):
            version = current[role].version + 1 if role in current else 1
            rows = [
                (path, length, sha256)
                for path, length, sha256 in session.execute(
                    select(TufTarget.path, TufTarget.length, TufTarget.sha256).where(
                        TufTarget.bin == number
                    )
                )
            ]
            store(session, role, sign(targets_of_bin(version, now, rows), [signer]), now)
            versions[role] = version
            result.bins.append(role)
            signed_any = True
    snapshot = current.get(Snapshot.type)
    if signed_any or _due(snapshot, Snapshot.type, now):
        result.snapshot = snapshot.version + 1 if snapshot else 1
        md = sign(snapshot_role(result.snapshot, now, versions), [signer])
        store(session, Snapshot.type, md, now)
    timestamp = current.get(Timestamp.type)
    if result.snapshot is not None or _due(timestamp, Timestamp.type, now):
        snapshot_version = result.snapshot or (snapshot.version if snapshot else 1)
        result.timestamp = timestamp.version + 1 if timestamp else 1
        md = sign(timestamp_role(result.timestamp, now, snapshot_version), [signer])
        store(session, Timestamp.type, md, now)
    targets = current.get(Targets.type)
    if targets is not None and targets.expires - now < dt.timedelta(days=30):
        result.warnings.append(
            f"targets.json expires {targets.expires:%Y-%m-%d}: run `stockade tuf sign-root`"
        )
    state.journal_id = newest
    state.resign_all = False
    prune(session, now)
    return result


def _check_signer(signer: Signer, key: Key) -> None:
    """Refuse to sign with a signer whose key is not the one root lists (a key file replaced
    by a rotation not yet committed, or a misconfigured KMS): clients would reject it all."""
    probe = b"stockade tuf signer check"
    try:
        key.verify_signature(signer.sign(probe), probe)
    except UnverifiedSignatureError as exc:
        raise RuntimeError(
            f"the online signer does not hold the key root lists ({key.keyid[:16]}…)"
        ) from exc


def _changed_projects(session: Session, after: int, upto: int) -> list[str]:
    """The projects to re-target: those journaled in (after, upto], or every one at first."""
    if after == 0:
        names = set(session.scalars(select(Project.normalized_name)))
        names.update(session.scalars(select(TufTarget.project).distinct()))
    else:
        names = set(
            session.scalars(
                select(JournalEntry.name)
                .where(JournalEntry.id > after, JournalEntry.id <= upto)
                .distinct()
            )
        )
    return sorted(names)


def _wanted(session: Session, name: str, base_url: str) -> dict[str, tuple[int, str, bytes | None]]:
    """The targets a project should have: (length, sha256, page bytes or None) by path."""
    project = session.scalar(select(Project).where(Project.normalized_name == name))
    if project is None or project.deletion_id is not None:
        return {}
    wanted: dict[str, tuple[int, str, bytes | None]] = {}
    page = session.get(SimplePage, project.id)
    if page is not None:
        # Exactly the bytes the page cache serves (provenance links qualified).
        bodies = with_base_url(page.html, page.json, base_url)
        for path, body in zip(page_paths(name), bodies, strict=True):
            wanted[path] = (len(body), hashlib.sha256(body).hexdigest(), body)
    if project.status == "quarantined":
        return wanted  # its files are not served
    for filename, sha256, size in session.execute(
        select(File.filename, File.sha256_digest, File.size)
        .join(Release, Release.id == File.release_id)
        .where(
            File.project_id == project.id,
            File.deletion_id.is_(None),
            Release.deletion_id.is_(None),
        )
    ):
        wanted[file_path(sha256, filename).lstrip("/")] = (size, sha256, None)
    return wanted


def _retarget(session: Session, name: str, base_url: str, bins: SuccinctRoles) -> set[int]:
    """Bring one project's target rows to what it serves now; returns the bins changed."""
    wanted = _wanted(session, name, base_url)
    have = {t.path: t for t in session.scalars(select(TufTarget).where(TufTarget.project == name))}
    dirty: set[int] = set()
    gone = [path for path in have if path not in wanted]
    if gone:
        session.execute(delete(TufTarget).where(TufTarget.path.in_(gone)))
        dirty.update(have[path].bin for path in gone)
    for path, (length, sha256, body) in wanted.items():
        row = have.get(path)
        if row is None:
            number = bin_number(bins, path)
            session.add(
                TufTarget(
                    path=path, project=name, bin=number, length=length, sha256=sha256, body=body
                )
            )
            dirty.add(number)
        elif row.sha256 != sha256 or row.length != length:
            row.sha256, row.length, row.body = sha256, length, body
            dirty.add(row.bin)
    return dirty
