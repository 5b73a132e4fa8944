"""The services one running app shares between its routes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import Request

from stockade.config import Settings
from stockade.db import Database
from stockade.events.services import Origin
from stockade.index.cache import PageCache
from stockade.mail import Mailer
from stockade.storage import BlobStorage

__all__ = ["LOOPBACK_HOSTS", "UNKNOWN_HOST", "AppContext", "Ctx", "get_context", "origin_of"]

# Hosts a request may name when no base_url is configured: the out-of-the-box laptop setup.
# Links mailed to people are never built from any other Host header (an attacker chooses it).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
UNKNOWN_HOST = "Set base_url: this server cannot mail links for a host it does not know."


@dataclass(frozen=True)
class AppContext:
    """Settings and the two seams (database, blob storage), plus this worker's page cache."""

    settings: Settings
    db: Database
    storage: BlobStorage
    pages: PageCache
    mailer: Mailer
    # Seconds since the epoch, for checks against time steps (TOTP codes): tests pass a clock
    # they set, instead of waiting for a step boundary to pass.
    clock: Callable[[], float] = time.time

    def base_url(self, request: Request) -> str:
        """The configured public base URL, else the one the request arrived at."""
        if self.settings.base_url:
            return self.settings.base_url
        return str(request.base_url).rstrip("/")

    def link_base(self, request: Request) -> str:
        """The base URL for links mailed to people (and the WebAuthn relying party).

        ``settings.base_url`` when set. Without it, the request's own base URL only when the
        request names a loopback host: the Host header is the client's to choose, and a mail
        with the victim's real token must never link to a host an attacker picked. Any other
        host is refused with 421 Misdirected Request, saying what to configure: the Host header
        is the client's, so it never turns into a server error.
        """
        if self.settings.base_url:
            return self.settings.base_url
        host = (request.url.hostname or "").lower()
        if host in LOOPBACK_HOSTS:
            return str(request.base_url).rstrip("/")
        raise HTTPException(status_code=421, detail=UNKNOWN_HOST)


def get_context(request: Request) -> AppContext:
    """The AppContext of the app serving ``request``."""
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


def origin_of(request: Request) -> Origin:
    """Where a request came from, for the audit log."""
    host = request.client.host if request.client else None
    return Origin(ip_address=host, user_agent=request.headers.get("user-agent"))
