"""The mail the accounts domain sends, and sending it once the transaction has committed."""

from __future__ import annotations

import logging
from urllib.parse import quote

from stockade.mail import Mailer, MailError, Message

__all__ = [
    "VERIFY_PATH",
    "deliver",
    "password_changed_mail",
    "primary_changed_mail",
    "verification_link",
    "verification_mail",
]

log = logging.getLogger(__name__)

VERIFY_PATH = "/account/verify-email/"


def verification_link(base_url: str, secret: str) -> str:
    """The absolute link that verifies an address."""
    return f"{base_url}{VERIFY_PATH}?token={quote(secret, safe='')}"


def verification_mail(
    *, site_name: str, username: str, address: str, link: str, hours: int
) -> Message:
    """Asks the owner of ``address`` to confirm it belongs to ``username``."""
    body = f"""\
Hello {username},

Someone, hopefully you, gave this email address to the account "{username}" on {site_name}.
To verify that it is yours, open this link within {hours} hours:

{link}

The link works once. If you did not do this, ignore this message: the address stays
unverified and nothing else happens.

-- {site_name}
"""
    return Message(to=address, subject=f"Verify your email address on {site_name}", body=body)


def password_changed_mail(*, site_name: str, username: str, address: str) -> Message:
    """Tells the account's primary address that its password changed."""
    body = f"""\
Hello {username},

The password of your account "{username}" on {site_name} has just been changed, and every
other session of the account has been logged out.

If you did this, there is nothing more to do. If you did not, someone else knows your
password: contact the administrators of {site_name} at once.

-- {site_name}
"""
    return Message(to=address, subject=f"Your {site_name} password has changed", body=body)


def primary_changed_mail(
    *, site_name: str, username: str, address: str, new_address: str
) -> Message:
    """Tells the previous primary address that mail now goes elsewhere."""
    body = f"""\
Hello {username},

The primary email address of your account "{username}" on {site_name} has been changed from
this address to {new_address}. Account notices will go there from now on.

If you did not do this, contact the administrators of {site_name} at once.

-- {site_name}
"""
    return Message(
        to=address, subject=f"Your {site_name} primary email address has changed", body=body
    )


def deliver(mailer: Mailer, *messages: Message) -> bool:
    """Send each message; log failures instead of raising (the action they report is already
    committed). True when every message was handed over."""
    ok = True
    for message in messages:
        try:
            mailer.send(message)
        except MailError as exc:
            log.error("could not send %r to %s: %s", message.subject, message.to, exc)
            ok = False
    return ok
