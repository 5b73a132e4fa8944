"""What a project deletion or a change of hands must void: pending role invitations and (when
the name passes to someone else) the old owners' trusted publishers.

An invitation accepted on a deleted project would make the invitee one of its "former owners",
free to re-create a name reserved for the real ones; a trusted publisher left on a row that
passes to a new owner would let the old owner's CI jobs upload into the new owner's project.
Both work in the caller's transaction and record one event per row they void.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.events.services import Origin, record
from stockade.index.models import Project, RoleInvitation
from stockade.oidc.models import Publisher
from stockade.oidc.services import remove_publisher

__all__ = ["drop_publishers", "revoke_pending_invitations"]


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


def drop_publishers(
    session: Session, project: Project, *, origin: Origin, actor_id: int | None
) -> int:
    """Remove every trusted publisher of the project, and the upload tokens minted for them;
    returns how many publishers."""
    ids = list(session.scalars(select(Publisher.id).where(Publisher.project_id == project.id)))
    for publisher_id in ids:
        remove_publisher(session, project, publisher_id, origin=origin, actor_id=actor_id)
    return len(ids)
