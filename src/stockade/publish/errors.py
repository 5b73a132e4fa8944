"""The one error of the upload use case: a refusal with PyPI's status and words."""

from __future__ import annotations

from stockade.errors import ServiceError

__all__ = ["UploadError"]


class UploadError(ServiceError):
    """An upload refused with an HTTP status (``status``) and a one-line reason."""
