"""The mail that role changes send, queued during a transaction and delivered after it commits.

As on PyPI, mail goes only to a verified primary address.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from stockade.accounts.models import User
from stockade.index.models import Project, RoleInvitation
from stockade.mail import Mailer, Message

__all__ = ["Outbox"]

log = logging.getLogger(__name__)


@dataclass
class Outbox:
    """Messages waiting for their transaction to commit."""

    base_url: str
    site_name: str = "stockade"
    messages: list[Message] = field(default_factory=list)

    def _add(self, user: User, subject: str, body: str) -> None:
        email = user.primary_email
        if email is None or not email.verified:
            return
        self.messages.append(
            Message(to=email.email, subject=f"[{self.site_name}] {subject}", body=body)
        )

    def deliver(self, mailer: Mailer) -> None:
        """Send every queued message. Call only after the commit; a failure is logged, not
        raised (the change it reports has happened)."""
        while self.messages:
            message = self.messages.pop(0)
            try:
                mailer.send(message)
            except Exception:
                log.exception("could not send mail %r to %s", message.subject, message.to)

    def invitation(
        self, invitee: User, inviter: User, project: Project, invitation: RoleInvitation
    ) -> None:
        """Tell the invitee where to accept or decline."""
        expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M")
        self._add(
            invitee,
            f"You have been invited to join {project.name}",
            f"{inviter.username} has invited you to join the project {project.name} as "
            f"{invitation.role_name} on {self.site_name}.\n\n"
            f"To accept or decline the invitation, log in and visit\n"
            f"{self.base_url}/manage/projects/\n\n"
            f"The invitation expires on {expires} UTC. If you were not expecting it, you can "
            "decline it or ignore this message.\n",
        )

    def collaborator_added(self, owner: User, user: User, project: Project, role: str) -> None:
        """Tell an owner that someone joined."""
        self._add(
            owner,
            f"{user.username} is now {role} of {project.name}",
            f"{user.username} accepted the invitation and is now {role} of the project "
            f"{project.name}.\n\nManage the project's roles at\n"
            f"{self.base_url}/manage/project/{project.normalized_name}/roles/\n",
        )

    def invitation_declined(self, owner: User, user: User, project: Project) -> None:
        """Tell an owner that an invitation was declined."""
        self._add(
            owner,
            f"{user.username} declined to join {project.name}",
            f"{user.username} declined the invitation to join the project {project.name}.\n",
        )

    def invitation_revoked(self, invitee: User, project: Project) -> None:
        """Tell the invitee that their invitation was withdrawn."""
        self._add(
            invitee,
            f"Your invitation to join {project.name} was revoked",
            f"An owner of the project {project.name} revoked your invitation to join it.\n",
        )

    def role_changed(self, user: User, actor: User, project: Project, role: str) -> None:
        """Tell a user their role changed."""
        self._add(
            user,
            f"Your role on {project.name} changed",
            f"{actor.username} changed your role on the project {project.name} to {role}.\n",
        )

    def removed(self, user: User, actor: User, project: Project) -> None:
        """Tell a user they were removed from a project."""
        self._add(
            user,
            f"You were removed from {project.name}",
            f"{actor.username} removed you from the project {project.name}. You can no longer "
            "upload to it.\n",
        )
