"""Lifecycle models: deletion tombstones and reserved names."""

from __future__ import annotations

__all__: list[str] = []
