"""The mail of the email-domain checks (builders only: it is sent once the transaction
committed)."""

from __future__ import annotations

from stockade.mail import Message

__all__ = ["domain_unverified_mail"]


def domain_unverified_mail(
    *, site_name: str, username: str, address: str, unverified: str, reason: str
) -> Message:
    """Tells another verified address that one address is no longer trusted."""
    body = f"""\
Hello {username},

The email address {unverified} of your account "{username}" on {site_name} is no longer
verified: {reason}.

Someone who registers a lapsed domain receives its mail, and could use it to reset your
password. Until the domain is back in good standing, {site_name} sends nothing there and no
password reset can go to it. If the domain is yours and healthy again, verify the address
again from your account settings.

-- {site_name}
"""
    return Message(
        to=address,
        subject=f"An email address of your {site_name} account was unverified",
        body=body,
    )
