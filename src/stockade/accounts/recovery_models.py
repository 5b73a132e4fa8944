"""Account recovery requests and email-domain check results."""

from __future__ import annotations

__all__: list[str] = []
