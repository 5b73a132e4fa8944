"""Why a token exchange failed, in PyPI's words (``{"code", "description"}``)."""

from __future__ import annotations

__all__ = ["ExchangeError"]


class ExchangeError(Exception):
    """A refused token exchange. ``code`` is one of PyPI's: invalid-payload, invalid-token,
    invalid-publisher, invalid-pending-publisher, rate-limit-exceeded."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
