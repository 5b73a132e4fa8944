"""Abuse models: malware reports, prohibited names."""

from __future__ import annotations

__all__: list[str] = []
