"""Blob storage: where distribution files live, behind one protocol.

Two real backends share one contract test suite (``tests/contract/test_storage.py``):
:class:`LocalStorage` (files under a directory, the embedded default) and :class:`S3Storage`
(any S3-compatible object store). :func:`open_storage` picks one from the configured URL.
"""

from typing import TYPE_CHECKING, Any

from stockade.storage.interface import BlobNotFound, BlobStorage
from stockade.storage.local import LocalStorage
from stockade.storage.url import open_storage

if TYPE_CHECKING:
    from stockade.storage.s3 import S3Storage


def __getattr__(name: str) -> Any:
    # boto3 costs ~25 MiB per process: import it only where S3 is used.
    if name == "S3Storage":
        from stockade.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(name)


__all__ = ["BlobNotFound", "BlobStorage", "LocalStorage", "S3Storage", "open_storage"]
