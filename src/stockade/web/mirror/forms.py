"""The admin's forms on ``/admin/mirror/``: add, change and remove upstreams, refresh a project
now, set and remove origin rules, let projects through the cooldown and revoke that, purge a
project from the cache, create and remove policy views.

Each calls the same service as ``stockade mirror …`` (the admin is the actor, the request's
address the origin), then redirects back to the page with a notice. A refusal shows the page
again with the reason next to the form, with the refusal's status (400 for bad input).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.errors import ServiceError
from stockade.lifecycle.changes import announce
from stockade.mirror import actions, rules
from stockade.mirror.errors import MirrorError
from stockade.mirror.models import (
    DEFAULT_COOLDOWN_DAYS,
    DEFAULT_TTL_SECONDS,
    ORIGIN_BOTH,
    ORIGIN_LOCAL,
    ORIGIN_UPSTREAM,
)
from stockade.mirror.services import Mirror, add_upstream, remove_upstream
from stockade.mirror.views import create_view, remove_view
from stockade.web.auth import AdminUser, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.mirror.pages import mirror_page

__all__ = ["router"]

router = APIRouter(prefix="/admin/mirror", dependencies=[Depends(csrf_protect)])


def _done(key: str, name: str) -> Response:
    return RedirectResponse(
        "/admin/mirror/?" + urlencode({"done": key, "name": name}), status_code=303
    )


def _act(
    request: Request,
    ctx: AppContext,
    failed: str,
    form: Mapping[str, str],
    change: Callable[[Session], tuple[str, str]],
    *,
    changed: str | None = None,
) -> Response:
    """Run ``change`` in one write transaction; it returns the notice's (key, name). After
    the commit this worker drops its cached pages of ``changed`` (other workers follow the
    journal). A refusal shows the page again with the reason by the ``failed`` form."""
    try:
        with ctx.db.write() as session:
            key, name = change(session)
    except IntegrityError:
        # Another admin (or the CLI) made the same upstream or view at the same moment.
        message = "That changed at the same moment elsewhere: look at the page and try again."
        return mirror_page(request, ctx, error=message, failed=failed, form=form, status_code=409)
    except ServiceError as exc:
        return mirror_page(
            request,
            ctx,
            error=exc.message,
            failed=failed,
            form=form,
            status_code=exc.status_code,
        )
    if changed:
        announce(ctx.pages, changed)
    return _done(key, name)


def _number(value: str, what: str) -> float | None:
    """A form's number field: None when empty; otherwise a finite number, zero or more."""
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise MirrorError(400, f"{what} must be a number, not {value!r}.") from None
    if not math.isfinite(number) or number < 0:
        raise MirrorError(400, f"{what} must be zero or more.")
    return number


def _whole(value: str, what: str) -> int | None:
    number = _number(value, what)
    if number is not None and number != int(number):
        raise MirrorError(400, f"{what} must be a whole number.")
    return None if number is None else int(number)


# -- upstreams ------------------------------------------------------------------------------------
@router.post("/upstreams/", include_in_schema=False)
def upstream_add(
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    name: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    ttl: Annotated[str, Form()] = "",
    cooldown_days: Annotated[str, Form()] = "",
    priority: Annotated[str, Form()] = "",
    files_url: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Add an upstream, or change the one with that name (its settings are replaced)."""
    typed = {
        "name": name,
        "url": url,
        "ttl": ttl,
        "cooldown_days": cooldown_days,
        "priority": priority,
        "files_url": files_url,
        "username": username,
    }

    def change(session: Session) -> tuple[str, str]:
        files = files_url.strip() or None
        if files is not None and not files.startswith(("http://", "https://")):
            raise MirrorError(400, f"The files URL must start with http:// or https://: {files!r}")
        ttl_seconds = _whole(ttl, "The page TTL")
        cooldown = _number(cooldown_days, "The cooldown")
        row = add_upstream(
            session,
            name.strip(),
            url.strip(),
            ttl_seconds=DEFAULT_TTL_SECONDS if ttl_seconds is None else ttl_seconds,
            cooldown_days=DEFAULT_COOLDOWN_DAYS if cooldown is None else cooldown,
            priority=_whole(priority, "The priority"),
            files_url=files,
            username=username.strip() or None,
            password=password or None,
            origin=origin_of(request),
            actor_id=admin.user_id,
        )
        return "upstream-saved", row.name

    return _act(request, ctx, "upstream", typed, change)


@router.post("/upstreams/{upstream_name}/remove/", include_in_schema=False)
def upstream_remove(upstream_name: str, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Forget an upstream (projects already served from it stay as they are)."""

    def change(session: Session) -> tuple[str, str]:
        remove_upstream(session, upstream_name, origin=origin_of(request), actor_id=admin.user_id)
        return "upstream-removed", upstream_name

    return _act(request, ctx, "upstreams", {}, change)


# -- one project: refresh, purge ------------------------------------------------------------------
@router.post("/refresh/", include_in_schema=False)
def project_refresh(
    request: Request, ctx: Ctx, admin: AdminUser, project: Annotated[str, Form()] = ""
) -> Response:
    """Fetch the project's page from its upstreams now, whatever its TTL."""

    def refused(message: str, status_code: int) -> Response:
        typed = {"project": project}
        return mirror_page(
            request, ctx, error=message, failed="refresh", form=typed, status_code=status_code
        )

    try:
        name = rules.normalized_name(project)
    except MirrorError as exc:
        return refused(exc.message, exc.status_code)
    mirror: Mirror = request.app.state.mirror
    outcome = mirror.refresh(name, force=True)
    if outcome.outcome == "none":
        return refused("No upstream is configured: add one first.", 409)
    if outcome.outcome == "error":
        return refused(f"The upstream failed: {outcome.error}", 502)
    key = "refreshed" if outcome.outcome == "ok" else outcome.outcome
    return _done(key, name)


@router.post("/purge/", include_in_schema=False)
def project_purge(
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    project: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Take the project's upstream copy out of the index (soft delete) and forget its cache."""

    def change(session: Session) -> tuple[str, str]:
        name = rules.normalized_name(project)
        actions.purge(
            session,
            name,
            reason=reason or actions.PURGE_REASON,
            origin=origin_of(request),
            actor_id=admin.user_id,
        )
        return "purged", name

    return _act(
        request,
        ctx,
        "purge",
        {"project": project, "reason": reason},
        change,
        changed=_normalized_or_none(project),
    )


def _normalized_or_none(name: str) -> str | None:
    try:
        return rules.normalized_name(name)
    except MirrorError:
        return None


# -- origin rules ---------------------------------------------------------------------------------
_MODES = {"local": ORIGIN_LOCAL, "upstream": ORIGIN_UPSTREAM, "both": ORIGIN_BOTH}


@router.post("/origins/", include_in_schema=False)
def origin_set(
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    project: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "",
    upstream: Annotated[str, Form()] = "",
) -> Response:
    """Set a name's origin rule (local also reserves a name nobody has yet)."""

    def change(session: Session) -> tuple[str, str]:
        if mode not in _MODES:
            raise MirrorError(400, "Choose where the name comes from: local, upstream or both.")
        chosen = upstream.strip() or None
        if mode == "upstream" and chosen is None:
            raise MirrorError(400, "An upstream-only rule names its upstream.")
        name = rules.normalized_name(project)
        actions.set_rule(
            session,
            name,
            _MODES[mode],
            upstream_name=None if mode == "local" else chosen,
            origin=origin_of(request),
            actor_id=admin.user_id,
        )
        return "origin-set", name

    typed = {"project": project, "mode": mode, "upstream": upstream}
    return _act(request, ctx, "origin", typed, change, changed=_normalized_or_none(project))


@router.post("/origins/{project_name}/remove/", include_in_schema=False)
def origin_remove(project_name: str, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Drop a name's origin rule: the default applies again."""

    def change(session: Session) -> tuple[str, str]:
        name = rules.normalized_name(project_name)
        actions.unset_rule(session, name, origin=origin_of(request), actor_id=admin.user_id)
        return "origin-removed", name

    return _act(request, ctx, "rules", {}, change, changed=_normalized_or_none(project_name))


# -- the cooldown ---------------------------------------------------------------------------------
@router.post("/exemptions/", include_in_schema=False)
def exemption_add(
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    project: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    days: Annotated[str, Form()] = "",
) -> Response:
    """Let a project (or one version of it) through the cooldown, with a reason."""

    def change(session: Session) -> tuple[str, str]:
        name = rules.normalized_name(project)
        actions.exempt(
            session,
            name,
            version=version.strip() or None,
            reason=reason,
            days=_number(days, "The number of days"),
            origin=origin_of(request),
            actor_id=admin.user_id,
        )
        return "exempted", name

    typed = {"project": project, "version": version, "reason": reason, "days": days}
    return _act(request, ctx, "exemption", typed, change, changed=_normalized_or_none(project))


@router.post("/exemptions/{exemption_id}/revoke/", include_in_schema=False)
def exemption_revoke(exemption_id: int, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """End a live exemption now (files it let through stay published)."""

    def change(session: Session) -> tuple[str, str]:
        gone = rules.revoke_exemption(
            session, exemption_id, origin=origin_of(request), actor_id=admin.user_id
        )
        return "revoked", gone.normalized_name

    return _act(request, ctx, "exemptions", {}, change)


# -- policy views ---------------------------------------------------------------------------------
def _specs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@router.post("/views/", include_in_schema=False)
def view_create(
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    name: Annotated[str, Form()] = "",
    min_age_days: Annotated[str, Form()] = "",
    min_downloads: Annotated[str, Form()] = "",
    attested_only: Annotated[str, Form()] = "",
    trusted_publishing_only: Annotated[str, Form()] = "",
    maintainers_2fa: Annotated[str, Form()] = "",
    no_known_vulns: Annotated[str, Form()] = "",
    allow: Annotated[str, Form()] = "",
    deny: Annotated[str, Form()] = "",
) -> Response:
    """Create (or replace) a policy view, served at /views/NAME/simple/."""

    def change(session: Session) -> tuple[str, str]:
        view = create_view(
            session,
            name.strip(),
            min_age_days=_number(min_age_days, "The minimum age"),
            attested_only=bool(attested_only),
            trusted_publishing_only=bool(trusted_publishing_only),
            min_downloads=_whole(min_downloads, "The minimum downloads"),
            maintainers_2fa=bool(maintainers_2fa),
            no_known_vulns=bool(no_known_vulns),
            allow=_specs(allow),
            deny=_specs(deny),
            origin=origin_of(request),
            actor_id=admin.user_id,
        )
        return "view-saved", view.name

    typed = {
        "name": name,
        "min_age_days": min_age_days,
        "min_downloads": min_downloads,
        "attested_only": attested_only,
        "trusted_publishing_only": trusted_publishing_only,
        "maintainers_2fa": maintainers_2fa,
        "no_known_vulns": no_known_vulns,
        "allow": allow,
        "deny": deny,
    }
    return _act(request, ctx, "view", typed, change)


@router.post("/views/{view_name}/remove/", include_in_schema=False)
def view_remove(view_name: str, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Remove a policy view."""

    def change(session: Session) -> tuple[str, str]:
        remove_view(session, view_name, origin=origin_of(request), actor_id=admin.user_id)
        return "view-removed", view_name

    return _act(request, ctx, "views", {}, change)
