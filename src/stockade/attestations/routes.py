"""``GET /integrity/<project>/<version>/<filename>/provenance`` (PEP 740)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter()
