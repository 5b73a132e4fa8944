"""The trusted-publishing API (``/_/oidc/…``) and the publisher management pages."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stockade.web.auth import csrf_protect

__all__ = ["api_router", "router"]

# Machine endpoints (JSON, called by CI jobs): no session, no CSRF.
api_router = APIRouter()
# Pages (publisher management): CSRF-protected forms.
router = APIRouter(dependencies=[Depends(csrf_protect)])
