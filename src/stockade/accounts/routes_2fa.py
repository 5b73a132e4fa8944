"""Two-factor pages: enrol TOTP and security keys, recovery codes, the second login step."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stockade.web.auth import csrf_protect

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])
