"""Reading the audit log for the people concerned."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from stockade.accounts.models import User
from stockade.events.models import Event
from stockade.events.sentences import sentence
from stockade.index.models import Project

__all__ = ["EventView", "all_events", "find_events", "project_events", "user_events"]


class EventView:
    """An event with the names it refers to, ready for a template or JSON."""

    def __init__(self, event: Event, actor: str | None, project: str | None) -> None:
        self.id = event.id
        self.created_at = event.created_at
        self.tag = event.tag
        self.actor = actor
        self.project = project
        self.ip_address = event.ip_address
        self.user_agent = event.user_agent
        self.details = event.details or {}
        self.sentence = sentence(event.tag, self.details, actor)

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "id": self.id,
            "time": self.created_at.isoformat(),
            "tag": self.tag,
            "sentence": self.sentence,
            "actor": self.actor,
            "project": self.project,
            "ip_address": self.ip_address,
            "user_agent": self.user_agent,
            "details": self.details,
        }


def _query(session: Session, *conditions: object, limit: int) -> list[EventView]:
    actor = aliased(User)
    rows = session.execute(
        select(Event, actor.username, Project.normalized_name)
        .outerjoin(actor, actor.id == Event.actor_id)
        .outerjoin(Project, Project.id == Event.project_id)
        .where(*conditions)  # type: ignore[arg-type]
        .order_by(Event.id.desc())
        .limit(limit)
    ).all()
    return [EventView(e, a, p) for e, a, p in rows]


def find_events(
    session: Session,
    *,
    user_id: int | None = None,
    project_id: int | None = None,
    limit: int = 200,
) -> list[EventView]:
    """Events newest first; filters combine: about or by a user, about a project."""
    conditions: list[object] = []
    if user_id is not None:
        conditions.append(or_(Event.user_id == user_id, Event.actor_id == user_id))
    if project_id is not None:
        conditions.append(Event.project_id == project_id)
    return _query(session, *conditions, limit=limit)


def user_events(session: Session, user_id: int, *, limit: int = 200) -> list[EventView]:
    """Events about a user's account or done by them, newest first."""
    return find_events(session, user_id=user_id, limit=limit)


def project_events(session: Session, project_id: int, *, limit: int = 200) -> list[EventView]:
    """Events about a project, newest first."""
    return find_events(session, project_id=project_id, limit=limit)


def all_events(session: Session, *, limit: int = 200) -> list[EventView]:
    """Every event, newest first (administrators, the CLI)."""
    return find_events(session, limit=limit)
