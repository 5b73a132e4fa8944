"""The orphan-blob sweep (job ``orphan-sweep``): delete blobs no row references, a grace
period after they were last held.

Each unreferenced blob is decided on in its own write transaction that locks its hold row
(:mod:`stockade.storage.holds`): no hold yet → one is created (the grace period starts now);
a hold younger than ``orphan_grace`` → kept (an upload may be about to commit it); an older
hold and still no reference → the blob and its hold are deleted, before the lock is released.
An upload holds its keys before it puts them, and that hold waits for this lock, so the sweep
can never delete a blob between an upload's put and its commit.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from stockade.db import Database
from stockade.db.base import utcnow
from stockade.index.paths import blob_key
from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.storage import BlobStorage, open_storage
from stockade.storage.holds import BlobHold
from stockade.upkeep.references import BLOB_PREFIX, digest_of, referenced

__all__ = ["ORPHAN_SWEEP_JOB", "SweepResult", "orphan_digests", "sweep_one", "sweep_orphans"]

_BATCH = 500
_LONG_AGO = dt.timedelta(days=1)


@dataclass
class SweepResult:
    """What one sweep saw and did."""

    deleted: list[str] = field(default_factory=list)
    # Unreferenced, kept for now: held by a live upload, or first seen by this run.
    waiting: list[str] = field(default_factory=list)
    holds_dropped: int = 0


def orphan_digests(db: Database, keys: Iterable[str]) -> Iterator[str]:
    """The digest of every blob among the stored ``keys`` that no row references (asked in
    batches); keys of another shape are skipped."""
    digests = (d for d in map(digest_of, keys) if d is not None)
    while batch := list(itertools.islice(digests, _BATCH)):
        with db.read() as session:
            known = referenced(session, batch)
        yield from (digest for digest in batch if digest not in known)


def sweep_one(
    db: Database,
    storage: BlobStorage,
    digest: str,
    *,
    grace: dt.timedelta,
    now: dt.datetime,
    unheld_is_stale: bool = False,
) -> bool | None:
    """Decide on one unreferenced blob under its hold's lock: True if deleted, False if kept
    (held, or first seen now), None if a row references it after all.

    ``unheld_is_stale`` (``fsck --repair``) deletes a blob nobody ever held at once: every
    writer holds its keys before it puts them, so such a blob is no live upload's."""
    key = blob_key(digest)
    try:
        with db.write() as session:
            hold = session.get(BlobHold, key, with_for_update=True)
            if hold is None:
                # Inserted in this transaction, the row is ours (locked) until it ends.
                hold = BlobHold(key=key, since=now - grace - _LONG_AGO if unheld_is_stale else now)
                session.add(hold)
                session.flush()
                if not unheld_is_stale:
                    return False
            if hold.since > now - grace:
                return False
            if referenced(session, [digest]):
                session.delete(hold)
                return None
            storage.delete(key)
            session.delete(hold)
            return True
    except IntegrityError:
        return False  # an upload held the key at the same moment: it is live


def sweep_orphans(
    db: Database, storage: BlobStorage, *, grace: dt.timedelta, now: dt.datetime | None = None
) -> SweepResult:
    """One sweep: every unreferenced blob decided on (see the module), then the holds that
    protect nothing any more (older than the grace period) dropped."""
    now = now or utcnow()
    result = SweepResult()
    for digest in list(orphan_digests(db, storage.iter_keys(BLOB_PREFIX))):
        outcome = sweep_one(db, storage, digest, grace=grace, now=now)
        if outcome is True:
            result.deleted.append(digest)
        elif outcome is False:
            result.waiting.append(digest)
    # A hold that is past its grace and was not just decided on belongs to a committed upload
    # (its blob is referenced) or to one that died before its put: it protects nothing.
    waiting = set(result.waiting)
    with db.write() as session:
        expired = BlobHold.since <= now - grace
        keys = [k for k in session.scalars(select(BlobHold.key).where(expired))]
        keys = [k for k in keys if digest_of(k) not in waiting]
        for start in range(0, len(keys), _BATCH):
            chunk = keys[start : start + _BATCH]
            # ``expired`` again: an upload may have refreshed one of them meanwhile.
            session.execute(delete(BlobHold).where(BlobHold.key.in_(chunk), expired))
        result.holds_dropped = len(keys)
    return result


def _run(ctx: JobContext) -> JobResult:
    storage = open_storage(ctx.settings.storage_url)
    try:
        result = sweep_orphans(
            ctx.db, storage, grace=dt.timedelta(seconds=ctx.settings.orphan_grace)
        )
    finally:
        storage.close()
    return JobResult(
        summary=(
            f"{len(result.deleted)} orphan blob(s) deleted, {len(result.waiting)} within "
            "their grace period"
        ),
        changes=[f"deleted orphan blob {blob_key(d)}" for d in result.deleted],
    )


ORPHAN_SWEEP_JOB = Job(
    name="orphan-sweep",
    description="Delete blobs no file references, a grace period after they were last held",
    interval=dt.timedelta(hours=6),
    run=_run,
)
