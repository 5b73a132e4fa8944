"""Project roles and invitations: who may publish to a project and who may manage it.

PyPI's model: an Owner invites a user by name to be an Owner or a Maintainer; the invitee accepts
or declines (invitations expire after six days); Owners change and remove roles; anyone with a
role may leave. A project always keeps at least one Owner: the last one can be neither removed,
demoted nor leave. Every step records an event on the project. Mail is queued on an ``Outbox``
and the caller delivers it once the transaction has committed.

Every service that changes roles first locks the project row, so two owners acting at once are
serialized and the last-owner rule cannot be raced around (see ``index.rules``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.accounts.services import find_user
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.index.mails import Outbox
from stockade.index.models import ROLE_OWNER, Project, Role, RoleInvitation
from stockade.index.policy import TwoFactorPolicy
from stockade.index.projects import frozen_refusal
from stockade.index.rules import (
    INVITATION_LIFETIME,
    ROLE_NAMES,
    InvitationExpired,
    NotAllowed,
    RoleError,
    RoleNotFound,
    delete_role,
    find_project,
    lock_project,
    new_role,
    owner_count,
    owners_of,
    parse_role_name,
    pending_invitation,
    project_role,
    require_owner,
    role_of,
)

__all__ = [
    "INVITATION_LIFETIME",
    "ROLE_NAMES",
    "InvitationExpired",
    "NotAllowed",
    "Outbox",
    "RoleError",
    "RoleNotFound",
    "accept_invitation",
    "add_role",
    "change_role",
    "decline_invitation",
    "find_project",
    "invite",
    "leave_project",
    "parse_role_name",
    "remove_role",
    "remove_user_role",
    "revoke_invitation",
    "role_of",
]


# Without the index-wide level (callers that pass none): the owners' opt-in still applies.
OPT_IN_ONLY = TwoFactorPolicy()


def _require_two_factor(
    session: Session, policy: TwoFactorPolicy, user: User, project: Project
) -> None:
    refusal = policy.refusal(
        session,
        user_id=user.id,
        username=user.username,
        project=project,
        project_name=project.name,
        action="join",
    )
    if refusal is not None:
        raise NotAllowed(refusal)


def _refuse_frozen(project: Project) -> None:
    # A quarantined project's roles are frozen (stockade.abuse.quarantine); operators' direct
    # changes (add_role, remove_user_role) are not.
    refusal = frozen_refusal(project)
    if refusal is not None:
        raise NotAllowed(refusal)


def invite(
    session: Session,
    *,
    actor: User,
    project: Project,
    username: str,
    role_name: str,
    origin: Origin,
    outbox: Outbox | None = None,
    two_factor: TwoFactorPolicy = OPT_IN_ONLY,
) -> RoleInvitation:
    """Invite ``username`` to ``role_name`` on ``project`` (Owners and administrators only).

    Refused (RoleError) for an unknown or disabled user, a user who already has a role, a user
    without a verified primary email address, a user with a pending invitation, and a user
    without 2FA when ``two_factor`` requires it for the project (NotAllowed).
    """
    lock_project(session, project)
    _refuse_frozen(project)
    require_owner(session, actor, project)
    role_name = parse_role_name(role_name)
    invitee = find_user(session, username.strip()) if username.strip() else None
    if invitee is None:
        raise RoleError("No user found with that username. Try again.")
    if not invitee.is_active:
        raise RoleError(f"User {invitee.username!r} is disabled and cannot be invited.")
    existing = role_of(session, invitee.id, project.id)
    if existing is not None:
        raise RoleError(
            f"User {invitee.username!r} already has {existing.role_name} role for project."
        )
    email = invitee.primary_email
    if email is None or not email.verified:
        raise RoleError(
            f"User {invitee.username!r} does not have a verified primary email address and "
            f"cannot be added as a {role_name} for project."
        )
    _require_two_factor(session, two_factor, invitee, project)
    now = utcnow()
    for old in session.scalars(
        select(RoleInvitation).where(
            RoleInvitation.project_id == project.id,
            RoleInvitation.user_id == invitee.id,
            RoleInvitation.status == "pending",
        )
    ):
        if old.expires_at > now:
            raise RoleError(
                f"User {invitee.username!r} already has an active invite. Please try again later."
            )
        old.status = "expired"
    invitation = RoleInvitation(
        project_id=project.id,
        user_id=invitee.id,
        invited_by_id=actor.id,
        role_name=role_name,
        status="pending",
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    session.flush()
    record(
        session,
        "project:role:invite",
        origin=origin,
        actor_id=actor.id,
        user_id=invitee.id,
        project_id=project.id,
        username=invitee.username,
        role=role_name,
        invitation_id=invitation.id,
    )
    if outbox is not None:
        outbox.invitation(invitee, actor, project, invitation)
    return invitation


def accept_invitation(
    session: Session,
    *,
    user: User,
    invitation_id: int,
    origin: Origin,
    outbox: Outbox | None = None,
    two_factor: TwoFactorPolicy = OPT_IN_ONLY,
) -> tuple[Role, Project]:
    """The invitee accepts: they get the role. An expired invitation is marked so and refused
    with InvitationExpired (commit anyway, to keep the mark). Refused (NotAllowed) while the
    project requires 2FA under ``two_factor`` and the invitee has none."""
    invitation = session.get(RoleInvitation, invitation_id)
    if invitation is None or invitation.user_id != user.id:
        raise RoleNotFound("Role invitation no longer exists.")
    project = session.get(Project, invitation.project_id)
    assert project is not None  # the foreign key cascades deletes
    lock_project(session, project)
    if project.deletion_id is not None:  # a role on a deleted project would reserve its name
        raise RoleNotFound("Role invitation no longer exists.")
    _refuse_frozen(project)
    pending_invitation(invitation, now=utcnow())
    _require_two_factor(session, two_factor, user, project)
    role = new_role(session, user, project, invitation.role_name)
    invitation.status = "accepted"
    session.flush()
    record(
        session,
        "project:role:accept",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        project_id=project.id,
        username=user.username,
        role=role.role_name,
        invitation_id=invitation.id,
    )
    if outbox is not None:
        for owner in owners_of(session, project.id):
            if owner.id != user.id:
                outbox.collaborator_added(owner, user, project, role.role_name)
    return role, project


def decline_invitation(
    session: Session,
    *,
    user: User,
    invitation_id: int,
    origin: Origin,
    outbox: Outbox | None = None,
) -> tuple[RoleInvitation, Project]:
    """The invitee declines; the project's owners are told."""
    invitation = session.get(RoleInvitation, invitation_id)
    if invitation is None or invitation.user_id != user.id:
        raise RoleNotFound("Role invitation no longer exists.")
    project = session.get(Project, invitation.project_id)
    assert project is not None
    if project.deletion_id is not None:
        raise RoleNotFound("Role invitation no longer exists.")
    pending_invitation(invitation, now=utcnow())
    invitation.status = "declined"
    record(
        session,
        "project:role:decline",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        project_id=project.id,
        username=user.username,
        role=invitation.role_name,
        invitation_id=invitation.id,
    )
    if outbox is not None:
        for owner in owners_of(session, project.id):
            outbox.invitation_declined(owner, user, project)
    return invitation, project


def revoke_invitation(
    session: Session,
    *,
    actor: User,
    project: Project,
    invitation_id: int,
    origin: Origin,
    outbox: Outbox | None = None,
) -> tuple[RoleInvitation, User]:
    """An owner withdraws a pending invitation; the invitee is told."""
    lock_project(session, project)
    _refuse_frozen(project)
    require_owner(session, actor, project)
    invitation = session.get(RoleInvitation, invitation_id)
    if invitation is None or invitation.project_id != project.id:
        raise RoleNotFound("Role invitation no longer exists.")
    if invitation.status != "pending":
        raise RoleError(f"This invitation is no longer pending: it was {invitation.status}.")
    invitee = session.get(User, invitation.user_id)
    assert invitee is not None
    invitation.status = "revoked"
    record(
        session,
        "project:role:revoke-invite",
        origin=origin,
        actor_id=actor.id,
        user_id=invitee.id,
        project_id=project.id,
        username=invitee.username,
        role=invitation.role_name,
        invitation_id=invitation.id,
    )
    if outbox is not None:
        outbox.invitation_revoked(invitee, project)
    return invitation, invitee


def change_role(
    session: Session,
    *,
    actor: User,
    project: Project,
    role_id: int,
    role_name: str,
    origin: Origin,
    outbox: Outbox | None = None,
) -> tuple[Role, User]:
    """An owner changes someone's role. The last owner cannot be demoted."""
    lock_project(session, project)
    _refuse_frozen(project)
    require_owner(session, actor, project)
    role_name = parse_role_name(role_name)
    role, user = project_role(session, project, role_id)
    if role.role_name == role_name:
        raise RoleError(f"User {user.username!r} already has {role_name} role for project.")
    if role.role_name == ROLE_OWNER and owner_count(session, project.id) <= 1:
        raise RoleError(
            f"Cannot demote {user.username!r}: they are the only owner of project "
            f"{project.name!r}, and a project must keep at least one owner."
        )
    previous, role.role_name = role.role_name, role_name
    record(
        session,
        "project:role:change",
        origin=origin,
        actor_id=actor.id,
        user_id=user.id,
        project_id=project.id,
        username=user.username,
        previous_role=previous,
        role=role_name,
    )
    if outbox is not None and user.id != actor.id:
        outbox.role_changed(user, actor, project, role_name)
    return role, user


def remove_role(
    session: Session,
    *,
    actor: User,
    project: Project,
    role_id: int,
    origin: Origin,
    outbox: Outbox | None = None,
) -> User:
    """An owner removes someone's role (never the last owner's); returns whose it was."""
    lock_project(session, project)
    _refuse_frozen(project)
    require_owner(session, actor, project)
    role, user = project_role(session, project, role_id)
    reason = "left" if user.id == actor.id else "removed"
    delete_role(session, project, role, user, actor_id=actor.id, origin=origin, reason=reason)
    if outbox is not None and user.id != actor.id:
        outbox.removed(user, actor, project)
    return user


def leave_project(session: Session, *, user: User, project: Project, origin: Origin) -> str:
    """A user gives up their own role (not the last owner); returns the role they had."""
    lock_project(session, project)
    _refuse_frozen(project)
    role = role_of(session, user.id, project.id)
    if role is None:
        raise RoleNotFound(f"You have no role on project {project.name!r}.")
    delete_role(session, project, role, user, actor_id=user.id, origin=origin, reason="left")
    return role.role_name


def add_role(
    session: Session,
    *,
    project: Project,
    user: User,
    role_name: str,
    origin: Origin,
    actor_id: int | None = None,
) -> Role:
    """Give a user a role directly, without an invitation (an operator's action)."""
    lock_project(session, project)
    role_name = parse_role_name(role_name)
    if not user.is_active:
        raise RoleError(f"User {user.username!r} is disabled.")
    existing = role_of(session, user.id, project.id)
    if existing is not None:
        raise RoleError(
            f"User {user.username!r} already has {existing.role_name} role for project."
        )
    role = new_role(session, user, project, role_name)
    record(
        session,
        "project:role:add",
        origin=origin,
        actor_id=actor_id,
        user_id=user.id,
        project_id=project.id,
        username=user.username,
        role=role_name,
    )
    return role


def remove_user_role(
    session: Session, *, project: Project, user: User, origin: Origin, actor_id: int | None = None
) -> str:
    """Remove a user's role directly (an operator's action); never the last owner's."""
    lock_project(session, project)
    role = role_of(session, user.id, project.id)
    if role is None:
        raise RoleNotFound(f"User {user.username!r} has no role on project {project.name!r}.")
    delete_role(session, project, role, user, actor_id=actor_id, origin=origin, reason="operator")
    return role.role_name
