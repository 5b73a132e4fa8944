"""Password reset and account recovery pages, and the admin recovery queue."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stockade.web.auth import csrf_protect

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])
