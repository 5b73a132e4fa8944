"""Project settings: the per-project 2FA requirement."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stockade.web.auth import csrf_protect

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])
