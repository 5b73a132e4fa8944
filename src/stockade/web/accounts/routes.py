"""Web routes of the accounts domain.

- ``login``: ``/account/register/``, ``/account/verify-email/``, ``/account/login/``,
  ``/account/logout/``;
- ``settings``: ``/manage/account/`` (profile, emails, password, recent history) and
  ``/manage/account/history/``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stockade.web.accounts.login import router as auth_router
from stockade.web.accounts.settings import router as manage_router
from stockade.web.auth import csrf_protect

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])
router.include_router(auth_router)
router.include_router(manage_router)
