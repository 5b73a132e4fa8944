"""Release lifecycle services: yank, delete, restore, archive and a project's PEP 792 status,
named together for the pages and the command line.

The work lives in :mod:`stockade.lifecycle.yanking`, :mod:`stockade.lifecycle.deletion`,
:mod:`stockade.lifecycle.restoration`, :mod:`stockade.lifecycle.status` (archive, PEP 792
status) and :mod:`stockade.lifecycle.changes`, which says what every change shares: it works in
the caller's transaction and is journaled, recorded and re-rendered there; after commit the
caller calls :func:`announce`.
"""

from __future__ import annotations

from stockade.lifecycle.changes import MAX_REASON, announce, find_project, find_release
from stockade.lifecycle.deletion import (
    check_may_delete,
    delete_file,
    delete_project,
    delete_release,
)
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.restoration import restore, restore_deletion
from stockade.lifecycle.status import STATUSES, archive, set_status, unarchive
from stockade.lifecycle.yanking import unyank, yank

__all__ = [
    "MAX_REASON",
    "STATUSES",
    "LifecycleError",
    "announce",
    "archive",
    "check_may_delete",
    "delete_file",
    "delete_project",
    "delete_release",
    "find_project",
    "find_release",
    "restore",
    "restore_deletion",
    "set_status",
    "unarchive",
    "unyank",
    "yank",
]
