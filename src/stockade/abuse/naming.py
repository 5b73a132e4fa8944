"""The name rules at project creation, and the administrators' list of prohibited names.

A new project's name is refused when it is prohibited, when it is a standard-library module's
name, when it looks the same as an existing project's (:func:`~stockade.index.names.ultranormalize`)
or when it is a typo of a popular project's (:class:`~stockade.abuse.names.PopularNames`).
Administrators' uploads skip every rule but the prohibited list: the way to give a user a name
the rules refuse is for an administrator to create the project and add the user as its owner.
Existing projects are never affected.
"""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.abuse.errors import AbuseError
from stockade.abuse.models import ProhibitedName
from stockade.abuse.names import popular_names, stdlib_names
from stockade.accounts.models import User
from stockade.events.services import Origin, record
from stockade.index.models import Project
from stockade.index.names import ultranormalize

__all__ = ["find_prohibited", "name_refusal", "prohibit", "prohibited_names", "unprohibit"]

# PEP 508 / core metadata: ASCII letters and digits, with . _ - inside.
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
MAX_REASON = 1000


def _choose(name: str) -> str:
    return f"The name {name!r} isn't allowed: "


def find_prohibited(session: Session, name: str) -> ProhibitedName | None:
    """The prohibited entry ``name`` matches, by its PEP 503 name or what it looks like."""
    return session.scalar(
        select(ProhibitedName)
        .where(
            or_(
                ProhibitedName.normalized_name == canonicalize_name(name),
                ProhibitedName.ultranormalized_name == ultranormalize(name),
            )
        )
        .order_by(ProhibitedName.id)
        .limit(1)
    )


def name_refusal(session: Session, name: str, *, user_id: int, top_n: int) -> str | None:
    """Why a new project may not be called ``name`` (a one-line message naming the rule and the
    name it collided with), or None when it may. Call only for a name no project has yet."""
    prohibited = find_prohibited(session, name)
    if prohibited is not None:
        why = f" ({prohibited.reason})" if prohibited.reason else ""
        return (
            _choose(name) + f"an administrator has prohibited the name {prohibited.name!r}{why}. "
            "Choose a different name."
        )
    if session.scalar(select(User.is_admin).where(User.id == user_id)):
        return None
    normalized = canonicalize_name(name)
    if session.scalar(select(Project.id).where(Project.normalized_name == normalized)):
        # A deleted project re-created under its own name (the lifecycle rules decide who may).
        return None
    if normalized in stdlib_names():
        return (
            _choose(name) + f"{normalized!r} is the name of a Python standard-library module. "
            "Choose a different name."
        )
    existing = session.scalar(
        select(Project.name)
        .where(Project.ultranormalized_name == ultranormalize(name))
        .order_by(Project.id)
        .limit(1)
    )
    if existing is not None:
        return (
            f"The name {name!r} is too similar to an existing project: {existing!r} (the same "
            "name once case, separators and look-alike characters are ignored). "
            "Choose a different name."
        )
    collision = popular_names(top_n).collision(normalized)
    if collision is not None:
        return (
            f"The name {name!r} is too similar to an existing or popular project: "
            f"{collision.project!r} ({collision.rule}). Choose a different name."
        )
    return None


def prohibited_names(session: Session) -> list[ProhibitedName]:
    """Every prohibited name, alphabetically."""
    return list(session.scalars(select(ProhibitedName).order_by(ProhibitedName.normalized_name)))


def prohibit(
    session: Session, name: str, reason: str | None, *, origin: Origin, actor_id: int | None
) -> ProhibitedName:
    """Prohibit ``name`` (and its look-alikes) for new projects. An existing project of that
    name is not touched. AbuseError 400 for an invalid name, 409 if already prohibited."""
    name = name.strip()
    if not _VALID_NAME.match(name):
        raise AbuseError(
            400,
            f"{name!r} is not a valid project name: use ASCII letters, digits and . _ - "
            "(starting and ending with a letter or digit).",
        )
    cleaned = " ".join((reason or "").split()) or None
    if cleaned is not None and len(cleaned) > MAX_REASON:
        raise AbuseError(400, f"The reason is too long: at most {MAX_REASON} characters.")
    normalized = canonicalize_name(name)
    if session.scalar(
        select(ProhibitedName.id).where(ProhibitedName.normalized_name == normalized)
    ):
        raise AbuseError(409, f"The name {normalized!r} is already prohibited.")
    entry = ProhibitedName(
        name=name,
        normalized_name=normalized,
        ultranormalized_name=ultranormalize(name),
        reason=cleaned,
        created_by_id=actor_id,
    )
    try:
        with session.begin_nested():
            session.add(entry)
            session.flush()
    except IntegrityError as exc:
        raise AbuseError(409, f"The name {normalized!r} is already prohibited.") from exc
    record(
        session, "name:prohibit", origin=origin, actor_id=actor_id, name=normalized, reason=cleaned
    )
    return entry


def unprohibit(session: Session, name: str, *, origin: Origin, actor_id: int | None) -> str:
    """Allow ``name`` again; AbuseError 404 when it is not prohibited. Returns its PEP 503 form."""
    normalized = canonicalize_name(name.strip())
    entry = session.scalar(
        select(ProhibitedName).where(ProhibitedName.normalized_name == normalized)
    )
    if entry is None:
        raise AbuseError(404, f"The name {normalized!r} is not prohibited.")
    session.delete(entry)
    record(session, "name:unprohibit", origin=origin, actor_id=actor_id, name=normalized)
    return normalized
