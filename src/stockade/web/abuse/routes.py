"""Web routes of the abuse domain, combined into one router.

- ``reports``: the report form on ``/project/<name>/report/`` and ``POST /api/reports`` (an API
  token, so no CSRF check there);
- ``admin``: ``/admin/reports/`` and its actions, ``/admin/prohibited/``, trusted reporters.

The page a quarantined project shows its owners is :mod:`stockade.web.abuse.quarantined`.
"""

from __future__ import annotations

from fastapi import APIRouter

from stockade.web.abuse.admin import router as admin_router
from stockade.web.abuse.reports import api_router as reports_api_router
from stockade.web.abuse.reports import router as reports_router

__all__ = ["router"]

router = APIRouter()
router.include_router(reports_api_router)
router.include_router(reports_router)
router.include_router(admin_router)
