"""Where a file's bytes live: content-addressed blob keys and public URL paths."""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["blob_key", "file_path", "metadata_path", "provenance_path"]


def blob_key(sha256: str) -> str:
    """The storage key of a blob with this sha256 (the same bytes always share one key)."""
    return f"blobs/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def file_path(sha256: str, filename: str) -> str:
    """The URL path of a distribution file, as on PyPI: ``/packages/aa/bb/rest/filename``."""
    return f"/packages/{sha256[:2]}/{sha256[2:4]}/{sha256[4:]}/{quote(filename)}"


def metadata_path(sha256: str, filename: str) -> str:
    """The URL path of a file's PEP 658 metadata sidecar."""
    return file_path(sha256, filename) + ".metadata"


def provenance_path(project: str, version: str, filename: str) -> str:
    """The URL path of a file's PEP 740 provenance object."""
    return f"/integrity/{quote(project)}/{quote(version)}/{quote(filename)}/provenance"
