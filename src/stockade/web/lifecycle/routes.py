"""Web routes of the lifecycle domain, combined into one router.

- ``releases``: ``/manage/project/<name>/releases/`` and the yank and unyank forms;
- ``deletion``: the delete confirmations for a project, a release or a file;
- ``archive``: ``/manage/project/<name>/archive/`` and ``unarchive/``;
- ``restore``: ``/admin/deleted/`` and the restore buttons (administrators).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stockade.web.auth import csrf_protect
from stockade.web.lifecycle.archive import router as archive_router
from stockade.web.lifecycle.deletion import router as deletion_router
from stockade.web.lifecycle.releases import router as releases_router
from stockade.web.lifecycle.restore import router as restore_router

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])
router.include_router(releases_router)
router.include_router(deletion_router)
router.include_router(archive_router)
router.include_router(restore_router)
