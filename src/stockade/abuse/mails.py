"""The mail a quarantine, its clearing and a removal send to the project's owners.

Built during the transaction, delivered by the caller after it commits
(``stockade.mail.deliver``). As on PyPI, mail goes only to verified primary addresses.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from stockade.index.models import Project
from stockade.index.rules import owners_of
from stockade.mail import Message

__all__ = ["owner_mail"]

_BODIES = {
    "quarantined": (
        "Your project {name} has been quarantined",
        "An administrator of {site} (or reports from trusted security researchers) flagged the "
        "project {name} as possibly malicious, and it has been quarantined.\n\n"
        "Reason: {reason}\n\n"
        "While it is quarantined, installers cannot see or download it, its page is hidden "
        "from everyone but its owners and the administrators, uploads are refused and its "
        "roles cannot change. An administrator will review it and either clear it or remove "
        "it. If you believe this is a mistake, reply to the administrators of {site}.\n\n"
        "{url}\n",
    ),
    "cleared": (
        "Your project {name} is no longer quarantined",
        "An administrator of {site} reviewed the project {name} and cleared it: it is "
        "installable again and accepts uploads.\n\n{url}\n",
    ),
    "removed": (
        "Your project {name} has been removed",
        "An administrator of {site} removed the project {name} as malicious. Its files can no "
        "longer be installed and the name cannot be used again.\n\nReason: {reason}\n",
    ),
}


def owner_mail(
    session: Session,
    project: Project,
    what: str,
    *,
    reason: str | None,
    site_name: str,
    base_url: str,
) -> list[Message]:
    """One message per owner with a verified primary address about ``what`` happened
    (``quarantined``, ``cleared`` or ``removed``)."""
    subject, body = _BODIES[what]
    fields = {
        "name": project.name,
        "site": site_name,
        "reason": reason or "not given",
        "url": f"{base_url}/project/{project.normalized_name}/" if base_url else "",
    }
    messages = []
    for owner in owners_of(session, project.id):
        email = owner.primary_email
        if email is None or not email.verified:
            continue
        messages.append(
            Message(
                to=email.email,
                subject=f"[{site_name}] " + subject.format(**fields),
                body=body.format(**fields),
            )
        )
    return messages
