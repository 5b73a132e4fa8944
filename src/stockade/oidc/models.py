"""Trusted publishers (GitHub, GitLab, Google, generic OIDC), pending publishers, used JWT ids."""

from __future__ import annotations

__all__: list[str] = []
