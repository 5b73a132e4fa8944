"""How strong a new password must be, and constant-cost password checks for unknown users."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from stockade.accounts.services import hash_password

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "MIN_SCORE", "burn_password_check", "password_problem"]

MIN_LENGTH = 8
# Warehouse's cap: long enough for any passphrase, short enough not to be a denial of service.
MAX_LENGTH = 4096
# zxcvbn scores 0 (guessable in a few tries) to 4; 2 is "somewhat guessable", PyPI's minimum.
MIN_SCORE = 2
# zxcvbn refuses longer input (its matching is quadratic); the prefix scores the whole.
_SCORED_CHARS = 72

_dummy_hash: str | None = None


def password_problem(password: str, *, user_inputs: Iterable[str] = ()) -> str | None:
    """What is wrong with ``password`` as a new password, or None when it is acceptable.

    ``user_inputs`` (the username, the full name, the email address …) count as known words:
    a password built from them is weak.
    """
    if "\x00" in password:
        return "Null bytes are not allowed."
    if len(password) < MIN_LENGTH:
        return f"Your password is too short. It must be at least {MIN_LENGTH} characters long."
    if len(password) > MAX_LENGTH:
        return f"Your password is too long. It must be at most {MAX_LENGTH} characters long."
    inputs = [part for value in user_inputs if value for part in _words(value)]
    # zxcvbn's dictionaries weigh ~14 MiB: load them on the first password check only.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:_SCORED_CHARS], user_inputs=inputs)
    if result["score"] >= MIN_SCORE:
        return None
    feedback = result["feedback"]
    message = "Password is too easily guessed."
    if feedback.get("warning"):
        message += " " + str(feedback["warning"])
    suggestions = feedback.get("suggestions") or []
    if suggestions:
        message += " " + " ".join(str(s) for s in suggestions)
    return message


def _words(value: str) -> list[str]:
    """The value itself and its parts: "alice.smith@example.org" also yields "alice", "smith"…"""
    parts = [value]
    for sep in "@._- +":
        parts = [piece for part in parts for piece in part.split(sep)] + parts
    return sorted({p.lower() for p in parts if len(p) >= 3})


def burn_password_check(password: str) -> None:
    """Spend the time of a real password check, for a user who does not exist.

    Without it, "no such user" answers measurably faster than "wrong password", which tells an
    attacker which usernames exist.
    """
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("stockade: no such user")
    with contextlib.suppress(VerificationError):
        PasswordHasher().verify(_dummy_hash, password)
