"""The mail the accounts domain sends, and sending it once the transaction has committed."""

from __future__ import annotations

from urllib.parse import quote

from stockade.mail import Message

__all__ = [
    "VERIFY_PATH",
    "login_confirmation_mail",
    "password_changed_mail",
    "primary_changed_mail",
    "recovery_code_used_mail",
    "recovery_codes_generated_mail",
    "token_created_mail",
    "two_factor_added_mail",
    "two_factor_removed_mail",
    "verification_link",
    "verification_mail",
]


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


# -- two-factor authentication and tokens (appended for 2FA) ---------------------------------


def _notice(site_name: str, username: str, address: str, subject: str, what: str) -> Message:
    body = f"""\
Hello {username},

{what}

If you did this, there is nothing more to do. If you did not, someone else has access to
your account "{username}" on {site_name}: change your password and contact the administrators
of {site_name} at once.

-- {site_name}
"""
    return Message(to=address, subject=f"{subject} on {site_name}", body=body)


def two_factor_added_mail(*, site_name: str, username: str, address: str, method: str) -> Message:
    """Tells the account that a second factor (``method``, in words) was added."""
    return _notice(
        site_name,
        username,
        address,
        "Two-factor method added",
        f"A two-factor authentication method ({method}) was added to your account.",
    )


def two_factor_removed_mail(*, site_name: str, username: str, address: str, method: str) -> Message:
    """Tells the account that a second factor (``method``, in words) was removed."""
    return _notice(
        site_name,
        username,
        address,
        "Two-factor method removed",
        f"A two-factor authentication method ({method}) was removed from your account.",
    )


def recovery_code_used_mail(
    *, site_name: str, username: str, address: str, remaining: int
) -> Message:
    """Tells the account that one of its recovery codes was used (and how many are left)."""
    return _notice(
        site_name,
        username,
        address,
        "A recovery code was used",
        f"A recovery code of your account was just used to log in. {remaining} unused "
        "recovery codes are left; you can generate a new set in your account settings.",
    )


def recovery_codes_generated_mail(*, site_name: str, username: str, address: str) -> Message:
    """Tells the account that a new set of recovery codes replaced the old one."""
    return _notice(
        site_name,
        username,
        address,
        "New recovery codes generated",
        "A new set of recovery codes was generated for your account. The old codes no longer work.",
    )


def token_created_mail(*, site_name: str, username: str, address: str, token_name: str) -> Message:
    """Tells the account that a new API token was created."""
    return _notice(
        site_name,
        username,
        address,
        "New API token created",
        f'A new API token named "{token_name}" was created for your account.',
    )


def login_confirmation_mail(
    *, site_name: str, username: str, address: str, link: str, ip_address: str, minutes: int
) -> Message:
    """Asks the owner to confirm a login from an IP address the account never used."""
    body = f"""\
Hello {username},

Someone logged in to your account "{username}" on {site_name} with your password and a
two-factor code, from an IP address this account has not used before: {ip_address}.

If this was you, open this link within {minutes} minutes, in the same browser, to finish
logging in:

{link}

If it was not you, do not open the link: someone knows your password and can read your
two-factor codes (this is how phishing works). Change your password at once.

-- {site_name}
"""
    return Message(to=address, subject=f"Confirm your login to {site_name}", body=body)
