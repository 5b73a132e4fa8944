"""The one shape of a refusal that services raise and the face turns into an HTTP answer.

Every service's error (``UploadError``, ``LifecycleError``, ``AbuseError`` …, and the upload
form reader's ``FormError``) is a :class:`ServiceError`: a status (PyPI's, for the same refusal)
and a one-line message that names the rule. The face translates it in one place per route
family; the CLI prints the message. A seam: it knows no domain, and every layer may import it.
"""

from __future__ import annotations

__all__ = ["ServiceError"]


class ServiceError(Exception):
    """A refusal with an HTTP status and a one-line reason, for the face to send as it is."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message

    @property
    def status(self) -> int:
        """The same status, under the name the upload path has always used."""
        return self.status_code
