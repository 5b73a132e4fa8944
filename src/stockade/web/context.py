"""The services one running app shares between its routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from stockade.config import Settings
from stockade.db import Database
from stockade.events.services import Origin
from stockade.index.cache import PageCache
from stockade.mail import Mailer
from stockade.storage import BlobStorage

__all__ = ["AppContext", "Ctx", "get_context", "origin_of"]


@dataclass(frozen=True)
class AppContext:
    """Settings and the two seams (database, blob storage), plus this worker's page cache."""

    settings: Settings
    db: Database
    storage: BlobStorage
    pages: PageCache
    mailer: Mailer

    def base_url(self, request: Request) -> str:
        """The configured public base URL, else the one the request arrived at."""
        if self.settings.base_url:
            return self.settings.base_url
        return str(request.base_url).rstrip("/")


def get_context(request: Request) -> AppContext:
    """The AppContext of the app serving ``request``."""
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


def origin_of(request: Request) -> Origin:
    """Where a request came from, for the audit log."""
    host = request.client.host if request.client else None
    return Origin(ip_address=host, user_agent=request.headers.get("user-agent"))
