"""The mail of password reset and account recovery.

Builders only; ``stockade.mail.deliver`` sends them once the transaction committed.
"""

from __future__ import annotations

from urllib.parse import quote

from stockade.mail import Message

__all__ = [
    "RESET_PATH",
    "password_reset_mail",
    "recovery_approved_mail",
    "recovery_filed_mail",
    "recovery_rejected_mail",
    "reset_link",
    "reset_password_changed_mail",
]

RESET_PATH = "/account/reset-password/"


def reset_link(base_url: str, secret: str) -> str:
    """The absolute link of a password-reset mail."""
    return f"{base_url}{RESET_PATH}?token={quote(secret, safe='')}"


def password_reset_mail(
    *, site_name: str, username: str, address: str, link: str, hours: int, forced: bool = False
) -> Message:
    """The single-use link that sets a new password."""
    why = (
        "An administrator of {site} approved the recovery of your account: every second factor "
        "was removed and the old password no longer works. Choose a new password"
        if forced
        else "Someone, hopefully you, asked to reset the password of your account"
    ).format(site=site_name)
    body = f"""\
Hello {username},

{why} ("{username}" on {site_name}) with this link, within {hours} hours:

{link}

The link works once, and stops working as soon as the password changes or someone logs in
to the account. Resetting the password does not remove two-factor authentication: after
choosing a new password you log in with it and your second factor, as usual.

If you did not ask for this, ignore this message: your password stays as it is.

-- {site_name}
"""
    return Message(to=address, subject=f"Reset your {site_name} password", body=body)


def reset_password_changed_mail(*, site_name: str, username: str, address: str) -> Message:
    """Tells a verified address that the password was reset through a mailed link."""
    body = f"""\
Hello {username},

The password of your account "{username}" on {site_name} has just been reset with a link
sent by email, and every session of the account has been logged out. Two-factor
authentication, if you use it, is unchanged.

If you did not do this, someone can read your email: contact the administrators of
{site_name} at once.

-- {site_name}
"""
    return Message(to=address, subject=f"Your {site_name} password has changed", body=body)


def recovery_filed_mail(*, site_name: str, username: str, address: str) -> Message:
    """Acknowledges an account recovery request (to the account's verified addresses)."""
    body = f"""\
Hello {username},

Someone asked the administrators of {site_name} to recover your account "{username}",
saying that every second factor of it was lost. An administrator will check the request by
hand before doing anything.

If this was not you, reply to the administrators: the request will be rejected.

-- {site_name}
"""
    return Message(to=address, subject=f"Account recovery requested on {site_name}", body=body)


def recovery_approved_mail(*, site_name: str, username: str, address: str) -> Message:
    """Tells every verified address that a recovery was approved."""
    body = f"""\
Hello {username},

An administrator of {site_name} approved the recovery of your account "{username}": every
second factor (authenticator app, security keys, recovery codes) was removed, every session
was logged out, and the password must be reset. A separate message carries the reset link.

After logging in again, add a second factor at once.

If you did not ask for this, contact the administrators of {site_name} immediately.

-- {site_name}
"""
    return Message(to=address, subject=f"Your {site_name} account was recovered", body=body)


def recovery_rejected_mail(*, site_name: str, username: str, address: str, note: str) -> Message:
    """Tells the requester that a recovery request was rejected."""
    body = f"""\
Hello,

The request to recover the account "{username}" on {site_name} was rejected by an
administrator.

{note or "No reason was given."}

-- {site_name}
"""
    return Message(to=address, subject=f"Account recovery on {site_name}: rejected", body=body)
