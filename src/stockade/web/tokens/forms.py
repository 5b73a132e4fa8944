"""The token creation form: read what was posted, report every problem at once.

Field names (the browser tests rely on them): ``name``, ``scope`` ("all" or "projects"),
``projects`` (normalized project names, repeatable) and ``expires_days`` (optional).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name
from starlette.datastructures import FormData

__all__ = ["MAX_EXPIRES_DAYS", "MAX_NAME_LENGTH", "TokenForm", "TokenRequest", "parse_token_form"]

MAX_NAME_LENGTH = 100  # ApiToken.name is a String(100)
MAX_EXPIRES_DAYS = 3650


@dataclass(frozen=True)
class TokenRequest:
    """A valid request for a new token."""

    name: str
    # Normalized project names; None for a token valid for every project of the user.
    projects: list[str] | None
    expires_days: int | None


@dataclass
class TokenForm:
    """The values as posted (to fill the form in again) and the problems found, by field."""

    name: str = ""
    scope: str = "all"
    projects: list[str] = field(default_factory=list)
    expires_days: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def parse_token_form(
    form: FormData, *, allowed_projects: Collection[str], names_in_use: Collection[str]
) -> tuple[TokenForm, TokenRequest | None]:
    """Check a posted token form.

    ``allowed_projects`` are the normalized names of the projects on which the user has a role
    (PyPI's rule: a token can only be scoped to those); ``names_in_use`` are the names of the
    user's tokens that are not revoked. Returns the form as posted and, when it has no errors,
    the request.
    """
    posted = TokenForm(
        name=_text(form, "name"),
        scope=_text(form, "scope") or "all",
        projects=[v.strip() for v in form.getlist("projects") if isinstance(v, str) and v.strip()],
        expires_days=_text(form, "expires_days"),
    )
    errors = posted.errors

    if not posted.name:
        errors["name"] = "Specify a token name"
    elif len(posted.name) > MAX_NAME_LENGTH:
        errors["name"] = f"Token name must be {MAX_NAME_LENGTH} characters or less"
    elif posted.name in names_in_use:
        errors["name"] = "API token name already in use"

    projects: list[str] | None = None
    if posted.scope == "projects":
        wanted = sorted({str(canonicalize_name(p)) for p in posted.projects})
        unknown = [p for p in wanted if p not in allowed_projects]
        if not wanted:
            errors["projects"] = "Select at least one project for a project-scoped token"
        elif unknown:
            errors["projects"] = "Unknown or invalid project name: " + ", ".join(unknown)
        projects = wanted
    elif posted.scope != "all":
        errors["scope"] = "Unknown token scope"

    expires_days: int | None = None
    if posted.expires_days:
        try:
            expires_days = int(posted.expires_days)
        except ValueError:
            expires_days = None
        if expires_days is None or not 1 <= expires_days <= MAX_EXPIRES_DAYS:
            errors["expires_days"] = (
                f"Expiry must be a whole number of days from 1 to {MAX_EXPIRES_DAYS}, "
                "or empty for a token that does not expire"
            )

    if errors:
        return posted, None
    return posted, TokenRequest(posted.name, projects, expires_days)
