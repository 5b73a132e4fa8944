"""The account forms: read what was posted, report every problem at once (PyPI's wording).

Field names (the browser tests rely on them):

- registration: ``username``, ``full_name``, ``email``, ``password``, ``password_confirm``;
- login: ``username`` (a username or an email address), ``password``, ``next``;
- password change: ``password`` (the current one), ``new_password``, ``password_confirm``;
- profile: ``full_name``; adding an address: ``email``.

Checks that need the database (a name or address already taken, the current password) are made
by the services; these functions check only what the posted values alone can tell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from stockade.accounts.passwords import password_problem

# What was posted, as the web layer hands it over (a form's fields by name; values that are
# not text, such as files, count as missing).
Posted = Mapping[str, Any]

__all__ = [
    "EMAIL_INVALID",
    "LoginForm",
    "PasswordForm",
    "RegisterForm",
    "check_email",
    "check_full_name",
    "parse_login_form",
    "parse_password_form",
    "parse_register_form",
    "safe_next",
    "text_field",
]

# PyPI's username rule: 1-50 letters, digits, '.', '_' and '-', starting and ending with a
# letter or digit (also enforced by services.create_user).
_USERNAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9])?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_FULL_NAME = 100  # User.full_name is a String(100)
MAX_EMAIL = 254  # RFC 5321's limit on a forward path
EMAIL_INVALID = "The email address isn't valid. Try again."
PASSWORDS_DIFFER = "Your passwords don't match. Try again."
# Messages for empty fields (named so that no linter mistakes them for passwords).
EMPTY_PW = "Specify a password."
EMPTY_LOGIN_PW = "Specify your password."
EMPTY_CURRENT_PW = "Specify your current password."
EMPTY_NEW_PW = "Specify a new password."


def text_field(form: Posted, key: str, *, strip: bool = True) -> str:
    """One posted text value ('' when absent or a file)."""
    value = form.get(key)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


def check_email(address: str) -> str | None:
    """What is wrong with an email address as typed, or None."""
    if not address:
        return "Specify an email address."
    if len(address) > MAX_EMAIL or "\x00" in address or not _EMAIL_RE.match(address):
        return EMAIL_INVALID
    # "bob@lapsed.org." is the same mailbox as "bob@lapsed.org": one spelling per domain, or
    # the domain checks (stockade.accounts.email_domains.check) could be sidestepped.
    if address.endswith(".") or "@." in address:
        return EMAIL_INVALID
    return None


def check_full_name(name: str) -> str | None:
    """What is wrong with a full name, or None (it is optional)."""
    if "\x00" in name:
        return "Null bytes are not allowed."
    if len(name) > MAX_FULL_NAME:
        return f"The name is too long. Choose a name with {MAX_FULL_NAME} characters or less."
    return None


@dataclass
class RegisterForm:
    """A registration as posted (passwords are never sent back to the browser)."""

    username: str = ""
    full_name: str = ""
    email: str = ""
    password: str = field(default="", repr=False)
    errors: dict[str, str] = field(default_factory=dict)


def parse_register_form(form: Posted) -> RegisterForm:
    """Read and check a registration; ``errors`` is empty when it may go ahead."""
    posted = RegisterForm(
        username=text_field(form, "username"),
        full_name=text_field(form, "full_name"),
        email=text_field(form, "email"),
        password=text_field(form, "password", strip=False),
    )
    confirm = text_field(form, "password_confirm", strip=False)
    errors = posted.errors
    if not posted.username:
        errors["username"] = "Specify a username."
    elif not _USERNAME_RE.match(posted.username):
        errors["username"] = (
            "The username is invalid. Usernames must be composed of letters, numbers, dots, "
            "hyphens and underscores. And must also start and finish with a letter or number. "
            "Choose a different username."
        )
    if problem := check_full_name(posted.full_name):
        errors["full_name"] = problem
    if problem := check_email(posted.email):
        errors["email"] = problem
    if not posted.password:
        errors["password"] = EMPTY_PW
    elif problem := password_problem(
        posted.password, user_inputs=[posted.username, posted.full_name, posted.email]
    ):
        errors["password"] = problem
    if posted.password and confirm != posted.password:
        errors["password_confirm"] = PASSWORDS_DIFFER
    return posted


@dataclass
class LoginForm:
    """A login attempt as posted."""

    username: str = ""
    password: str = field(default="", repr=False)
    next: str | None = None
    errors: dict[str, str] = field(default_factory=dict)


def parse_login_form(form: Posted) -> LoginForm:
    """Read a login form; ``errors`` lists missing fields."""
    posted = LoginForm(
        username=text_field(form, "username"),
        password=text_field(form, "password", strip=False),
        next=safe_next(text_field(form, "next")),
    )
    if not posted.username:
        posted.errors["username"] = "Specify your username or email address."
    if not posted.password:
        posted.errors["password"] = EMPTY_LOGIN_PW
    return posted


@dataclass
class PasswordForm:
    """A password change as posted."""

    current: str = field(default="", repr=False)
    new: str = field(default="", repr=False)
    errors: dict[str, str] = field(default_factory=dict)


def parse_password_form(form: Posted, *, user_inputs: list[str]) -> PasswordForm:
    """Read and check a password change (the current password is checked by the service)."""
    posted = PasswordForm(
        current=text_field(form, "password", strip=False),
        new=text_field(form, "new_password", strip=False),
    )
    confirm = text_field(form, "password_confirm", strip=False)
    if not posted.current:
        posted.errors["password"] = EMPTY_CURRENT_PW
    if not posted.new:
        posted.errors["new_password"] = EMPTY_NEW_PW
    elif problem := password_problem(posted.new, user_inputs=user_inputs):
        posted.errors["new_password"] = problem
    if posted.new and confirm != posted.new:
        posted.errors["password_confirm"] = PASSWORDS_DIFFER
    return posted


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects).

    Refuses absolute and scheme-relative URLs (``//evil.example``), backslashes that browsers
    read as slashes, and control characters.
    """
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    if target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
