"""Errors of the attestations domain (importable without loading sigstore)."""

from __future__ import annotations

__all__ = ["AttestationUploadError"]


class AttestationUploadError(ValueError):
    """Attestations refused at upload; the message is shown to the client after PyPI's
    "Invalid attestations supplied during upload: " prefix."""
