"""Attestation models: the provenance of each file."""

from __future__ import annotations

__all__: list[str] = []
