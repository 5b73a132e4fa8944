"""Appending to the transparency log and reading it: checkpoints, proofs, tiles, lookups.

Every change to a file passes :func:`stockade.index.state.journal`, which hands this module the
changed files' states (:class:`FileState`) in the change's own transaction: an entry is
written only when a file's state differs from the state the log last recorded, so a change
and its entries commit or roll back together. Appenders take the one ``tlog_state`` row's lock
(``FOR UPDATE``; SQLite has one writer anyway), so indexes are drawn without a gap or a race
across workers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.orm import Session

from stockade.db.base import utcnow
from stockade.events.services import Origin
from stockade.events.services import record as record_event
from stockade.tlog import merkle
from stockade.tlog.models import LogEntry, LogFile, LogNode, LogState

__all__ = [
    "FLAG_ACTIONS",
    "FileState",
    "LogView",
    "Lookup",
    "entry_bytes",
    "lock",
    "lookup",
    "node_reader",
    "read_state",
    "record",
    "set_enabled",
]

# Each flag's entry action when it is set and when it is cleared, in the order entries are
# written when several change at once.
FLAG_ACTIONS = {
    "q": ("quarantine", "unquarantine"),
    "d": ("delete", "restore"),
    "y": ("yank", "unyank"),
}


@dataclass(frozen=True)
class FileState:
    """A file as the index has it now: ``flags`` holds d (deleted), q (quarantined), y (yanked)."""

    project: str
    version: str
    filename: str
    sha256: str
    flags: str


def entry_bytes(entry: dict[str, Any]) -> bytes:
    """An entry's bytes in the log: JSON, keys sorted, no spaces, ASCII only."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _transitions(old: str | None, new: str) -> list[str]:
    actions = ["publish"] if old is None else []
    before = old or ""
    for flag, (on, off) in FLAG_ACTIONS.items():
        if (flag in new) != (flag in before):
            actions.append(on if flag in new else off)
    return actions


def _frontier(state: LogState) -> list[bytes]:
    raw = state.frontier
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


def lock(session: Session) -> LogState | None:
    """The log's state row, locked until the transaction ends (one appender at a time across
    workers); None while the log is off. Taken before reading what to append, so two
    appenders never both see a file as not yet logged."""
    log = session.scalar(
        select(LogState)
        .where(LogState.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return log if log is not None and log.enabled else None


def record(
    session: Session,
    log: LogState,
    states: Iterable[tuple[FileState, str | None]],
    *,
    actor: str | None,
) -> int:
    """Append an entry for every change between each file's logged flags (None: never logged)
    and its state now, under the lock ``log`` (:func:`lock`); returns how many entries were
    appended."""
    entries: list[dict[str, Any]] = []
    files: dict[str, tuple[str, bool]] = {}
    now = utcnow().isoformat().replace("+00:00", "Z")
    size, frontier = log.size, _frontier(log)
    nodes: list[dict[str, Any]] = []
    for state, logged in states:
        actions = _transitions(logged, "".join(sorted(state.flags)))
        if not actions:
            continue
        for action in actions:
            data = entry_bytes(
                {
                    "action": action,
                    "project": state.project,
                    "version": state.version,
                    "filename": state.filename,
                    "sha256": state.sha256,
                    "time": now,
                    "actor": actor,
                }
            )
            frontier, done = merkle.append(size, frontier, merkle.leaf_hash(data))
            nodes.extend({"level": lv, "idx": ix, "hash": h} for lv, ix, h in done)
            entries.append({"idx": size, "filename": state.filename, "data": data})
            size += 1
        files[state.filename] = ("".join(sorted(state.flags)), logged is None)
    if not entries:
        return 0
    session.execute(insert(LogEntry), entries)
    session.execute(insert(LogNode), nodes)
    last = {e["filename"]: e["idx"] for e in entries}
    new = [
        {"filename": name, "flags": flags, "last_index": last[name]}
        for name, (flags, first) in files.items()
        if first
    ]
    changed = [
        {"filename": name, "flags": flags, "last_index": last[name]}
        for name, (flags, first) in files.items()
        if not first
    ]
    if new:
        session.execute(insert(LogFile), new)
    if changed:
        session.execute(update(LogFile), changed)
    log.size, log.frontier, log.updated_at = size, b"".join(frontier), utcnow()
    session.flush()
    return len(entries)


def set_enabled(session: Session, enabled: bool, *, origin: Origin) -> None:
    """Turn appending on or off (off: changes are not logged until a bootstrap catches up);
    a change is an event (``log:enable``, ``log:disable``)."""
    log = session.get(LogState, 1, with_for_update=True)
    if log is None:
        log = LogState(id=1, enabled=not enabled, size=0, frontier=b"")
        session.add(log)
    if log.enabled != enabled:
        log.enabled = enabled
        record_event(session, "log:enable" if enabled else "log:disable", origin=origin)
    session.flush()


@dataclass(frozen=True)
class LogView:
    """The log's size and root hash as of one read."""

    size: int
    root: bytes
    enabled: bool


def read_state(session: Session) -> LogView:
    log = session.get(LogState, 1)
    if log is None:
        return LogView(0, merkle.EMPTY_ROOT, False)
    return LogView(log.size, merkle.root_from_frontier(_frontier(log)), log.enabled)


def node_reader(
    session: Session, wanted: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The stored hashes of the nodes ``wanted`` (``(level, index)`` pairs)."""
    found: dict[tuple[int, int], bytes] = {}
    keys = sorted(set(wanted))
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = session.execute(
            select(LogNode.level, LogNode.idx, LogNode.hash).where(
                tuple_(LogNode.level, LogNode.idx).in_(chunk)
            )
        )
        found.update({(row.level, row.idx): row.hash for row in rows})
    return found


def prove(session: Session, build: Any) -> list[bytes]:
    """Run ``build(node)`` (a proof function of :mod:`merkle`) with the nodes it needs read in
    one query: a first run only collects which nodes those are."""
    wanted: list[tuple[int, int]] = []

    def collect(level: int, index: int) -> bytes:
        wanted.append((level, index))
        return bytes(32)

    build(collect)
    found = node_reader(session, wanted)

    def read(level: int, index: int) -> bytes:
        try:
            return found[(level, index)]
        except KeyError:
            raise merkle.ProofError(f"the log has no node {level}/{index}") from None

    result: list[bytes] = build(read)
    return result


@dataclass(frozen=True)
class Lookup:
    index: int
    data: bytes


def lookup(session: Session, filename: str) -> Lookup | None:
    """The newest entry about ``filename``, if the log has one."""
    row = session.execute(
        select(LogEntry.idx, LogEntry.data)
        .join(LogFile, LogFile.last_index == LogEntry.idx)
        .where(LogFile.filename == filename)
    ).first()
    return None if row is None else Lookup(row.idx, row.data)


def tile_hashes(session: Session, level: int, first: int, width: int) -> list[bytes]:
    """The stored hashes at tree ``level`` from ``first`` on, ``width`` of them, in order."""
    rows = session.scalars(
        select(LogNode.hash)
        .where(LogNode.level == level, LogNode.idx >= first, LogNode.idx < first + width)
        .order_by(LogNode.idx)
    ).all()
    return list(rows)


def entries_between(session: Session, first: int, width: int) -> list[bytes]:
    rows = session.scalars(
        select(LogEntry.data)
        .where(LogEntry.idx >= first, LogEntry.idx < first + width)
        .order_by(LogEntry.idx)
    ).all()
    return list(rows)
