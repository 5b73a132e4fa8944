"""The ASGI application: the bare simple-API app in front, FastAPI for everything else."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

import anyio
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from stockade.catalogue import job_catalogue
from stockade.config import Settings, load_settings
from stockade.db import Database
from stockade.index.cache import PageCache
from stockade.jobs.interface import JobContext
from stockade.jobs.scheduler import Scheduler
from stockade.lifecycle.changes import announce
from stockade.logs import log_request
from stockade.mail import mailer_from_settings
from stockade.metrics import TALLY
from stockade.mirror.cached import record_stored
from stockade.mirror.fetch import BlobFetcher, StoredBlob
from stockade.mirror.fetchlock import fetch_locks_for
from stockade.mirror.pages import MirrorPages
from stockade.mirror.queries import listed_names
from stockade.mirror.services import Mirror
from stockade.mirror.views import ViewPages
from stockade.stats.counter import DownloadCounter
from stockade.storage import BlobStorage, open_storage
from stockade.tuf.job import TufBatcher
from stockade.web.context import AppContext
from stockade.web.favicon import router as favicon_router
from stockade.web.index.files import FilesApp
from stockade.web.index.simple import Receive, Scope, Send, SimpleApp
from stockade.web.index.views import ViewsApp, is_view_api
from stockade.web.operations import route_group
from stockade.web.operations import router as operations_router
from stockade.web.publish.legacy import router as upload_router
from stockade.web.security import SecurityHeaders, install_error_handlers
from stockade.web.tuf.app import TufApp, is_page_target

__all__ = ["StockadeApp", "create_app", "create_app_from_env"]

log = logging.getLogger(__name__)


class StockadeApp:
    """Routes the installers' hot paths (``/simple/…``, ``/packages/…``) to bare ASGI apps and
    every other request to FastAPI."""

    def __init__(
        self,
        context: AppContext,
        fastapi: FastAPI,
        api: ASGIApp,
        simple: SimpleApp,
        files: FilesApp,
        views: ViewsApp | None = None,
        route_groups: tuple[RouteGroup, ...] = (),
        tuf: TufApp | None = None,
    ) -> None:
        self.context = context
        # TUF metadata (/tuf/) and the page targets (/simple/<project>/index.html, .json).
        self.tuf = tuf
        # The FastAPI app and the same app wrapped in the security-header middleware, which
        # is what requests go to.
        self._fastapi = fastapi
        # The routes the app did not start with, by group: each group joins the app on the
        # first request for one of its paths.
        self._route_groups = list(route_groups)
        self._routes_lock = anyio.Lock()
        self.api = api
        self.simple = simple
        self.files = files
        self.views = views
        # JSON logs: the access log is written here, with each request's duration.
        settings = context.settings
        self.log_requests = settings.access_log and settings.log_format == "json"

    @property
    def fastapi(self) -> FastAPI:
        """The FastAPI app with every route (for tests and introspection)."""
        for group in list(self._route_groups):
            self._add_routes(group, group.build())
        return self._fastapi

    def _add_routes(self, group: RouteGroup, routes: list[Any]) -> None:
        if group in self._route_groups:
            self._route_groups.remove(group)
            # One assignment: a request being routed meanwhile sees the old list or the new.
            self._fastapi.router.routes = [*self._fastapi.router.routes, *routes]

    async def _load_routes(self, path: str) -> None:
        group = next((g for g in self._route_groups if g.serves(path)), None)
        if group is None:
            return
        async with self._routes_lock:
            if group in self._route_groups:
                # Importing a group's modules takes a while: off the event loop.
                self._add_routes(group, await anyio.to_thread.run_sync(group.build))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # The lifespan (stockade serves no websockets).
            await self.api(scope, receive, send)
            return
        path: str = scope["path"]
        started = time.perf_counter()
        status = 500  # what a request that ends without a response start counts as
        target: ASGIApp = self.api
        extra: tuple[tuple[bytes, bytes], ...] = ()
        group: str | None = None
        if path == "/simple/namespaces" or path.startswith("/simple/namespace/"):
            # PEP 752's endpoints, also under the simple API's root (which PEP 691's own
            # URLs are relative to): served by the same routes as /namespaces.
            scope = _without_simple_prefix(scope)
            path = scope["path"]
        if "\x00" in path or _nul_in_query(scope):
            target, extra = _refuse_nul, _SIMPLE_HEADERS
        elif self.tuf is not None and (path.startswith("/tuf/") or is_page_target(path)):
            target, extra, group = self.tuf, _SIMPLE_HEADERS, "tuf"
        elif path.startswith("/simple/") or path == "/simple":
            target, extra, group = self.simple, _SIMPLE_HEADERS, "simple"
        elif path.startswith("/packages/"):
            target, extra, group = self.files, _FILE_HEADERS, "files"
        elif path.startswith("/views/") and self.views is not None and not is_view_api(path):
            target = self.views
            extra = _FILE_HEADERS if "/packages/" in path else _SIMPLE_HEADERS
        if target is self.api and self._route_groups:
            await self._load_routes(path)
        if extra and scope.get("scheme") == "https":
            extra = (*extra, _HSTS)
        # The pages and APIs answer HEAD wherever they answer GET: the same status and
        # headers, and no body. (The bare apps above answer HEAD themselves.)
        bodiless = target is self.api and scope["method"] == "HEAD"

        async def counted(message: MutableMapping[str, Any]) -> None:
            # One wrapper does both: the status for the metrics, and the installers' headers.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if extra:
                    message["headers"] = [*message.get("headers", ()), *extra]
            elif bodiless and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await target({**scope, "method": "GET"} if bodiless else scope, receive, counted)
        finally:
            duration = time.perf_counter() - started
            TALLY.request(group or route_group(path), status, duration)
            if self.log_requests:
                log_request(scope, status, duration)


@dataclass(frozen=True, eq=False)
class RouteGroup:
    """Routes the app adds on the first request for one of ``prefixes`` (or, with no
    prefixes, for any path no other group and no route the app started with serves)."""

    build: Callable[[], list[Any]]
    prefixes: tuple[str, ...] = ()
    others: tuple[str, ...] = ()

    def serves(self, path: str) -> bool:
        if self.prefixes:
            return path.startswith(self.prefixes)
        return not path.startswith(self.others)


def _without_simple_prefix(scope: Scope) -> Scope:
    raw: bytes | None = scope.get("raw_path")
    return {
        **scope,
        "path": scope["path"].removeprefix("/simple"),
        "raw_path": raw.removeprefix(b"/simple") if raw else raw,
    }


def _nul_in_query(scope: Scope) -> bool:
    """A NUL character in the query string (as in the path, checked beside it): never part of
    a name, a version or an id, and PostgreSQL cannot even compare a text column with it."""
    query: bytes = scope.get("query_string", b"")
    return bool(query) and (b"\x00" in query or b"%00" in query)


async def _refuse_nul(scope: Scope, receive: Receive, send: Send) -> None:
    body = b"Bad Request: the URL contains a NUL character.\n"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# The installers' paths get the security headers that matter for what they serve (the pages
# get the full set from SecurityHeaders): nothing they return may run script, be framed or be
# sniffed into another type. Files are people's uploads served from this origin: sandboxed.
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_SIMPLE_HEADERS = (
    _NOSNIFF,
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)
_FILE_HEADERS = (
    _NOSNIFF,
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; sandbox"),
)
_HSTS = (b"strict-transport-security", b"max-age=31536000")


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], float] = time.time
) -> StockadeApp:
    """Build the app for ``settings`` (the schema must already be migrated)."""
    settings = settings or load_settings()
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    if not settings.base_url:
        log.warning(
            "base_url is not set: links in mail (password resets, login confirmations, "
            "verifications, invitations) work only for requests to localhost; set base_url"
        )
    db = Database(settings.database_url)
    storage = open_storage(settings.storage_url)
    pages = PageCache(
        db,
        poll_interval=settings.cache_poll_interval,
        max_bytes=settings.page_cache_bytes,
        base_url=settings.base_url,
        extra_root_names=listed_names,
    )
    context = AppContext(
        settings=settings,
        db=db,
        storage=storage,
        pages=pages,
        mailer=mailer_from_settings(settings),
        clock=clock,
    )

    # Background jobs in a thread of this worker (the job lock keeps workers from colliding).
    scheduler = (
        Scheduler(
            JobContext(settings=settings, db=db, mailer=context.mailer),
            job_catalogue().values(),
        )
        if settings.scheduler
        else None
    )

    downloads = DownloadCounter(db, interval=settings.download_flush_interval)
    # TUF metadata batches, signed by one worker at a time (idle while TUF is off; a zero
    # tuf_batch_interval leaves them to the hourly job).
    tuf_batcher = TufBatcher(JobContext(settings=settings, db=db, mailer=context.mailer))

    # Upstream indexes (stockade.mirror): pages fetched on demand, refreshed after their TTL.
    mirror = Mirror(db, settings, announce=lambda name: announce(pages, name))
    mirror_pages = MirrorPages(mirror, pages)
    # Upstream files not cached yet are streamed through this worker's fetcher.
    fetcher = BlobFetcher(
        storage,
        fetch_locks_for(db, settings.tmp_dir / "mirror-locks"),
        tmp_dir=settings.tmp_dir,
        max_bytes=settings.mirror_max_file_size,
        timeout=settings.mirror_timeout,
        on_stored=functools.partial(_record_stored, db, storage, pages),
    )

    async def flush_metrics() -> None:
        while True:
            await anyio.sleep(1.0)
            TALLY.flush()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(pages.start_serial)
        await anyio.to_thread.run_sync(mirror.apply_settings)
        downloads.start()
        if scheduler is not None:
            scheduler.start()
        tuf_batcher.start()
        async with anyio.create_task_group() as tg:
            tg.start_soon(pages.run_poller)
            tg.start_soon(flush_metrics)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
        await fetcher.aclose()
        # The last second's requests are counted too.
        TALLY.flush()
        if scheduler is not None:
            await anyio.to_thread.run_sync(scheduler.stop)
        await anyio.to_thread.run_sync(tuf_batcher.stop)
        # Nothing counted is lost on a clean shutdown.
        await anyio.to_thread.run_sync(downloads.stop)
        mirror.close()
        storage.close()
        db.dispose()

    api = FastAPI(
        title="stockade", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    api.state.ctx = context
    # The admin page's "refresh now" uses this worker's mirror service (its upstream clients).
    api.state.mirror = mirror
    install_error_handlers(api)
    # Uploads and health checks are routed from the start; every other route joins on the
    # first request for it (_ROUTE_GROUPS), so a worker holds only the modules it has used.
    api.include_router(upload_router)
    api.include_router(operations_router)
    api.include_router(favicon_router)

    files = FilesApp(db, storage)
    files.on_download = downloads.hit
    files.fetcher = fetcher
    pages.listeners.append(files.journal_changed)
    simple = SimpleApp(pages, max_age=10, mirror=mirror_pages)
    views = ViewsApp(ViewPages(db, pages), simple, files)
    return StockadeApp(
        context,
        api,
        _behind_proxies(SecurityHeaders(api)),
        simple,
        files,
        views,
        _ROUTE_GROUPS,
        tuf=TufApp(db),
    )


def _routes(*routers: APIRouter) -> list[Any]:
    routes = APIRouter()
    for router in routers:
        routes.include_router(router)
    return routes.routes


def _staging_routes() -> list[Any]:
    from stockade.web.staging.api import router as staging_router
    from stockade.web.staging.preview import router as stage_preview_router

    return _routes(staging_router, stage_preview_router)


def _json_api_routes() -> list[Any]:
    from stockade.web.index.json_api import router as json_api_router
    from stockade.web.mirrorapi.xmlrpc import router as xmlrpc_router

    return _routes(json_api_router, xmlrpc_router)


def _rss_routes() -> list[Any]:
    from stockade.web.mirrorapi.rss import router as rss_router

    return _routes(rss_router)


def _osv_routes() -> list[Any]:
    from stockade.web.advisories.osv_api import router as osv_router

    return _routes(osv_router)


def _oidc_routes() -> list[Any]:
    from stockade.web.oidc.api import api_router as oidc_api_router

    return _routes(oidc_api_router)


def _disclosure_routes() -> list[Any]:
    from stockade.web.tokens.disclosure import router as disclosure_router

    return _routes(disclosure_router)


def _namespace_routes() -> list[Any]:
    from stockade.web.orgs.namespaces_api import router as namespaces_router

    return _routes(namespaces_router)


def _log_routes() -> list[Any]:
    from stockade.web.tlog.routes import router as log_router

    return _routes(log_router)


def _page_routes() -> list[Any]:
    """The routes of the pages people see (and of the forms and APIs behind them), in the order
    they must be matched: their modules, templates and form models are about 8 MiB a worker
    that serves only installers, publishers and mirrors never needs."""
    from stockade.web.abuse.routes import router as abuse_router
    from stockade.web.accounts.recovery.pages import router as recovery_router
    from stockade.web.accounts.routes import router as accounts_router
    from stockade.web.accounts.twofactor.routes import router as two_factor_router
    from stockade.web.admin import router as admin_router
    from stockade.web.advisories.admin import router as advisories_admin_router
    from stockade.web.attestations.provenance import router as integrity_router
    from stockade.web.index.pages import router as pages_router
    from stockade.web.lifecycle.routes import router as lifecycle_router
    from stockade.web.manage.held import router as held_router
    from stockade.web.manage.projects import router as manage_router
    from stockade.web.manage.settings import router as project_settings_router
    from stockade.web.manage.webhooks import router as webhooks_router
    from stockade.web.mirror.forms import router as mirror_forms_router
    from stockade.web.mirror.pages import router as mirror_router
    from stockade.web.oidc.api import router as publishers_router
    from stockade.web.openapi import router as openapi_router
    from stockade.web.orgs.manage import router as orgs_manage_router
    from stockade.web.orgs.pages import router as orgs_router
    from stockade.web.staging.drafts import router as drafts_router
    from stockade.web.stats.pages import router as stats_router
    from stockade.web.tokens.pages import router as tokens_router

    return _routes(
        # Before the pages: /project/<name>/report/ would otherwise be read as a release.
        abuse_router,
        pages_router,
        accounts_router,
        tokens_router,
        manage_router,
        drafts_router,
        advisories_admin_router,
        admin_router,
        mirror_router,
        mirror_forms_router,
        two_factor_router,
        recovery_router,
        project_settings_router,
        held_router,
        webhooks_router,
        lifecycle_router,
        publishers_router,
        integrity_router,
        stats_router,
        orgs_router,
        orgs_manage_router,
        openapi_router,
    )


_API_GROUPS = (
    RouteGroup(_staging_routes, ("/upload/",)),
    # /views/<v>/pypi/… (the rest of /views/ is served by the views app).
    RouteGroup(_json_api_routes, ("/pypi", "/views/")),
    RouteGroup(_rss_routes, ("/rss/",)),
    RouteGroup(_osv_routes, ("/v1/",)),
    RouteGroup(_oidc_routes, ("/_/oidc/",)),
    RouteGroup(_disclosure_routes, ("/_/secrets/", "/_/github/")),
    # PEP 752's namespace API.
    RouteGroup(_namespace_routes, ("/namespaces", "/namespace/")),
    RouteGroup(_log_routes, ("/log/",)),
)
# The paths of the routes the app starts with and of the API groups: any other path is a page's.
_NOT_PAGES = (
    *("/legacy", "/_health/", "/metrics", "/favicon.ico"),
    *(prefix for group in _API_GROUPS for prefix in group.prefixes),
)
_ROUTE_GROUPS = (*_API_GROUPS, RouteGroup(_page_routes, others=_NOT_PAGES))


def _behind_proxies(app: ASGIApp) -> ASGIApp:
    """Trust ``X-Forwarded-For``/``-Proto`` from the hosts in ``FORWARDED_ALLOW_IPS`` (default
    127.0.0.1, uvicorn's own default) for the pages and APIs, which record who did what.

    ``stockade serve`` runs uvicorn with ``--no-proxy-headers`` and applies this here instead,
    so the installers' hot paths (``/simple/``, ``/packages/``), which never look at the
    client's address, skip the header scan on every request.
    """
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    # uvicorn types the app with its own ASGI protocol types; it is the same interface.
    return cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, app), trusted_hosts=trusted))


def _record_stored(
    db: Database, storage: BlobStorage, pages: PageCache, stored: StoredBlob
) -> None:
    """The fetcher's hook: the database learns the blob is cached; a page it changed (core
    metadata read from a wheel) is dropped from this worker's cache at once."""
    changed = record_stored(db, storage, stored)
    if changed is not None:
        pages.invalidate(changed)


def create_app_from_env() -> StockadeApp:
    """Factory for uvicorn workers: settings come from ``STOCKADE_*`` variables."""
    return create_app(load_settings())
