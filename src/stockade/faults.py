"""Fault points: named steps of a write where a crash test may kill the process.

``point("upload:after-put")`` does nothing unless the ``STOCKADE_FAULT`` environment variable
names that point (several may be given, separated by commas) when this module is first
imported; then the process kills itself with SIGKILL there, as a power cut or the OOM killer
would: no ``finally`` block, no rollback, no flush. The crash tests
(``tests/functional/test_crash_points.py``) run each action with its point armed, restart, and
check that nothing partial is visible.

The variable is read once, at import: unarmed, a point costs one call and one truth test.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "POINTS", "point"]

ENV = "STOCKADE_FAULT"

# Every point, and where it is. A crash test runs once for each; a point that is not listed
# here refuses to arm (a typo must not make a crash test pass without crashing).
POINTS: dict[str, str] = {
    "upload:after-spool": "the body is spooled and hashed; nothing is checked or stored yet",
    "upload:after-hold": "the blobs' holds are committed; no blob is stored yet",
    "upload:after-put": "the blobs are stored; no row references them yet",
    "upload:before-commit": "rows, journal, events and pages are written, not committed",
    "upload:after-commit": "the upload is committed; this worker's cache still has the old page",
    "page:rendered": "a project's pages are rendered into the transaction, not committed",
    "page:published": "a change is committed; this worker is about to drop its cached page",
    "yank:before-commit": "a yank is written in its transaction, not committed",
    "delete:before-commit": "a deletion (file, release or project) is written, not committed",
    "restore:before-commit": "a restoration is written in its transaction, not committed",
    "quarantine:before-commit": "a quarantine is written in its transaction, not committed",
}


def _armed(value: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in value.split(",") if n.strip())
    unknown = sorted(names - POINTS.keys())
    if unknown:
        raise RuntimeError(f"{ENV} names unknown fault points: {', '.join(unknown)}")
    return names


_ARMED = _armed(os.environ.get(ENV, ""))


def point(name: str) -> None:
    """Die here (SIGKILL) when ``STOCKADE_FAULT`` named this point at start-up."""
    if _ARMED and name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
