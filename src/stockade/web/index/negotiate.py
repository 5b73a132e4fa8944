"""PEP 691 content negotiation on the ``Accept`` header (with q-values), never a 406."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

__all__ = ["HTML_V1", "JSON_V1", "Negotiated", "negotiate"]

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"

# media type -> (form, Content-Type to answer with); the order breaks ties in q.
_OFFERS: dict[str, tuple[Literal["json", "html"], str]] = {
    JSON_V1: ("json", JSON_V1),
    "application/vnd.pypi.simple.latest+json": ("json", JSON_V1),
    HTML_V1: ("html", HTML_V1),
    "application/vnd.pypi.simple.latest+html": ("html", HTML_V1),
    TEXT_HTML: ("html", "text/html; charset=utf-8"),
}
_DEFAULT: tuple[Literal["json", "html"], str] = ("html", "text/html; charset=utf-8")

Negotiated = tuple[Literal["json", "html"], str]


@lru_cache(maxsize=512)
def negotiate(accept: str | None, fmt: str | None = None) -> Negotiated:
    """Pick the representation for an ``Accept`` header (or a ``?format=`` value).

    Returns ("json" | "html", Content-Type). Unknown or unacceptable types fall back to
    HTML, as PEP 691 allows, so older clients always get a page.
    """
    if fmt:
        return _OFFERS.get(fmt.strip().lower(), _DEFAULT)
    if not accept:
        return _DEFAULT
    best: Negotiated | None = None
    best_q = 0.0
    best_rank = len(_OFFERS)
    ranks = {media: i for i, media in enumerate(_OFFERS)}
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media in _OFFERS:
            offer, rank = _OFFERS[media], ranks[media]
        elif media in ("*/*", "text/*", "application/*"):
            offer, rank = (
                (_DEFAULT, len(_OFFERS) - 1)
                if media != "application/*"
                else (
                    _OFFERS[JSON_V1],
                    0,
                )
            )
        else:
            continue
        if q > best_q or (q == best_q and rank < best_rank):
            best, best_q, best_rank = offer, q, rank
    return best or _DEFAULT
