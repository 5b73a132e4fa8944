"""Second factors: TOTP secrets, WebAuthn security keys, recovery codes."""

from __future__ import annotations

__all__: list[str] = []
