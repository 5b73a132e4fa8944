"""What a project deletion or a change of hands must void: pending role invitations.

An invitation accepted on a deleted project would make the invitee one of its "former owners",
free to re-create a name reserved for the real ones. (A change of hands also drops the old
owners' trusted publishers: :func:`stockade.oidc.services.drop_publishers`, called by the
upload use case.) Works in the caller's transaction and records one event per row it voids.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.events.services import Origin, record
from stockade.index.models import Project, RoleInvitation

__all__ = ["revoke_pending_invitations"]


def revoke_pending_invitations(
    session: Session, project: Project, *, origin: Origin, actor_id: int | None
) -> int:
    """Mark the project's pending invitations revoked; returns how many."""
    invitations = list(
        session.scalars(
            select(RoleInvitation).where(
                RoleInvitation.project_id == project.id, RoleInvitation.status == "pending"
            )
        )
    )
    for invitation in invitations:
        invitation.status = "revoked"
        invitee = session.get(User, invitation.user_id)
        record(
            session,
            "project:role:revoke-invite",
            origin=origin,
            actor_id=actor_id,
            user_id=invitation.user_id,
            project_id=project.id,
            username=invitee.username if invitee is not None else None,
            role=invitation.role_name,
            invitation_id=invitation.id,
            reason="project deleted" if project.deletion_id is not None else "project re-created",
        )
    return len(invitations)
