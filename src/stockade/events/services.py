"""Recording events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from stockade.events.models import Event

__all__ = ["Origin", "record"]


@dataclass(frozen=True)
class Origin:
    """Where a request came from."""

    ip_address: str | None = None
    user_agent: str | None = None


CLI = Origin(ip_address=None, user_agent="stockade-cli")


def record(
    session: Session,
    tag: str,
    *,
    origin: Origin,
    actor_id: int | None = None,
    user_id: int | None = None,
    project_id: int | None = None,
    org_id: int | None = None,
    **details: Any,
) -> Event:
    """Add an event to the current transaction (it is stored only if the transaction commits)."""
    event = Event(
        tag=tag,
        actor_id=actor_id,
        user_id=user_id,
        project_id=project_id,
        org_id=org_id,
        ip_address=origin.ip_address,
        user_agent=(origin.user_agent or "")[:512] or None,
        details=details,
    )
    session.add(event)
    return event
