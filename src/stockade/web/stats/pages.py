"""Public statistics: the security dashboard (``/stats/``, its JSON and CSV), and the page that
tells a user which critical projects they maintain (``/manage/account/critical/``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response

from stockade.db.base import utcnow
from stockade.index.policy import SETUP_PATH
from stockade.stats.counts import today
from stockade.stats.mandate import critical_status
from stockade.stats.security import FIGURES, Figures, current_figures, history, through_today
from stockade.stats.svg import line_chart
from stockade.web.auth import CurrentUser, csrf_protect
from stockade.web.context import AppContext, Ctx
from stockade.web.templating import render

__all__ = ["RANGES", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

# ?range= values: label and how far back (None: every snapshot).
RANGES: dict[str, tuple[str, int | None]] = {
    "3m": ("3 months", 92),
    "1y": ("1 year", 366),
    "all": ("All", None),
}
DEFAULT_RANGE = "3m"

LABELS: dict[str, tuple[str, str]] = {
    "users": ("Users", ""),
    "users_2fa": ("Users with two-factor authentication", ""),
    "users_totp": ("Users with an authenticator app (TOTP)", ""),
    "users_webauthn": ("Users with a security key (WebAuthn)", ""),
    "critical_projects": ("Critical projects", ""),
    "critical_maintainers": ("Maintainers of critical projects", ""),
    "critical_maintainers_2fa": ("Maintainers of critical projects with 2FA", ""),
    "projects_requiring_2fa": ("Projects requiring 2FA of all maintainers (opt-in)", ""),
    "uploads_trusted_publishing_pct": ("Files uploaded by trusted publishing", "%"),
    "uploads_attested_pct": ("Files uploaded with attestations", "%"),
    "held_files": ("Uploads held: they broke their project's provenance pattern", ""),
    "held_files_confirmed": ("Held uploads confirmed by an owner", ""),
}


def _since(range_key: str) -> dt.date | None:
    days = RANGES[range_key][1]
    return None if days is None else today() - dt.timedelta(days=days - 1)


def _data(ctx: AppContext, since: dt.date | None) -> tuple[Figures, list[tuple[dt.date, Figures]]]:
    with ctx.db.read() as session:
        return current_figures(session), history(session, since=since)


def _bad_range(value: str) -> Response:
    choices = ", ".join(RANGES)
    return PlainTextResponse(f"Unknown range {value!r}: use one of {choices}.\n", status_code=400)


@router.get("/stats/", include_in_schema=False)
async def dashboard(request: Request, ctx: Ctx, range: str = DEFAULT_RANGE) -> Response:
    """The public security dashboard: each figure now, and its chart over the range."""
    if range not in RANGES:
        return _bad_range(range)
    current, snapshots = await run_in_threadpool(_data, ctx, _since(range))
    drawn = through_today(snapshots, current, today())
    figures = []
    for name in FIGURES:
        label, unit = LABELS[name]
        series = [(day, float(getattr(f, name))) for day, f in drawn]
        chart = line_chart(f"chart-{name}", f"{label} over time", series, unit=unit)
        figures.append(
            {
                "name": name,
                "label": label,
                "unit": unit,
                "value": getattr(current, name),
                "chart": chart.svg,
                "points": chart.points,
            }
        )
    cur = current.as_dict()
    share = (
        round(100 * cur["critical_maintainers_2fa"] / cur["critical_maintainers"], 1)
        if cur["critical_maintainers"]
        else None
    )
    return render(
        request,
        "stats/dashboard.html",
        {
            "figures": figures,
            "ranges": [(key, label) for key, (label, _days) in RANGES.items()],
            "range": range,
            "snapshots": len(snapshots),
            "critical_share": share,
            "generated": utcnow(),
        },
    )


def _payload(current: Figures, snapshots: list[tuple[dt.date, Figures]]) -> dict[str, Any]:
    return {
        "generated": utcnow().isoformat(),
        "current": current.as_dict(),
        "history": [{"date": day.isoformat(), **f.as_dict()} for day, f in snapshots],
    }


@router.get("/stats/security.json", include_in_schema=False)
async def security_json(ctx: Ctx, range: str = "all") -> Response:
    """The dashboard's figures: now, and one entry per daily snapshot (oldest first)."""
    if range not in RANGES:
        return _bad_range(range)
    current, snapshots = await run_in_threadpool(_data, ctx, _since(range))
    return JSONResponse(_payload(current, snapshots), headers={"cache-control": "max-age=300"})


@router.get("/stats/security.csv", include_in_schema=False)
async def security_csv(ctx: Ctx, range: str = "all") -> Response:
    """The daily snapshots as CSV: a ``date`` column, then the JSON's keys."""
    if range not in RANGES:
        return _bad_range(range)
    _current, snapshots = await run_in_threadpool(_data, ctx, _since(range))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", *FIGURES])
    for day, figures in snapshots:
        row = figures.as_dict()
        writer.writerow([day.isoformat(), *(row[name] for name in FIGURES)])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "cache-control": "max-age=300",
            "content-disposition": 'inline; filename="security.csv"',
        },
    )


@router.get("/manage/account/critical/", include_in_schema=False)
async def critical_page(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Which critical projects the user maintains, and what the index asks of them."""

    def load() -> Any:
        with ctx.db.read() as session:
            return critical_status(session, ctx.settings, identity.user_id)

    status = await run_in_threadpool(load)
    return render(request, "manage/critical.html", {"status": status, "setup_path": SETUP_PATH})
