"""The rate limits of the account pages (counted in the database, shared by every worker)."""

from __future__ import annotations

from stockade.db.ratelimit import Limit

__all__ = [
    "LOGIN_PER_ACCOUNT",
    "LOGIN_PER_IP",
    "PASSWORD_CHANGE_PER_ACCOUNT",
    "REGISTER_PER_IP",
    "VERIFY_MAIL_PER_ACCOUNT",
]

# Password guessing from one address, and against one account from many addresses.
LOGIN_PER_IP = Limit(count=30, seconds=15 * 60)
LOGIN_PER_ACCOUNT = Limit(count=10, seconds=15 * 60)
# Mass account creation.
REGISTER_PER_IP = Limit(count=10, seconds=60 * 60)
# Verification mail (resent or for an added address): we must not become a spam cannon.
VERIFY_MAIL_PER_ACCOUNT = Limit(count=5, seconds=60 * 60)
# The change form checks the current password: another way to guess it with a stolen session.
PASSWORD_CHANGE_PER_ACCOUNT = Limit(count=10, seconds=15 * 60)
