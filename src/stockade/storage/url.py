"""Opening a blob store from its configuration URL.

* ``file:///abs/path`` or a plain filesystem path: :class:`LocalStorage`.
* ``s3://bucket/optional/prefix?endpoint=http://127.0.0.1:8333&region=us-east-1&access_key=…&
  secret_key=…&addressing_style=path&create_bucket=1``: :class:`S3Storage`. Absent credentials
  fall back to boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles…).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast
from urllib.parse import parse_qs, unquote, urlsplit

from stockade.storage.interface import BlobStorage, check_key
from stockade.storage.local import LocalStorage

if TYPE_CHECKING:
    from stockade.storage.s3 import S3Storage

__all__ = ["open_storage"]

_S3_PARAMS = frozenset(
    {"endpoint", "region", "access_key", "secret_key", "addressing_style", "create_bucket"}
)
_ADDRESSING_STYLES = frozenset({"auto", "path", "virtual"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def open_storage(url: str) -> BlobStorage:
    """Open the blob store a ``file://`` URL, plain path or ``s3://`` URL names.

    Raises ``ValueError`` for a malformed URL. The message never repeats the URL itself, which
    may hold a secret key.
    """
    if not url:
        raise ValueError("storage URL is empty")
    if "://" not in url and not url.startswith("file:"):
        return LocalStorage(Path(url).expanduser())
    parts = urlsplit(url)
    if parts.scheme == "file":
        return _open_file(parts.netloc, parts.path, parts.query)
    if parts.scheme == "s3":
        return _open_s3(parts.netloc, parts.path, parts.query)
    raise ValueError(f"unsupported storage URL scheme {parts.scheme!r} (use file:// or s3://)")


def _open_file(netloc: str, path: str, query: str) -> LocalStorage:
    if netloc not in ("", "localhost"):
        raise ValueError(f"file:// storage URL must be local, not on host {netloc!r}")
    if query:
        raise ValueError("file:// storage URL takes no query parameters")
    root = Path(unquote(path))
    if not root.is_absolute():
        raise ValueError("file:// storage URL must hold an absolute path (file:///abs/path)")
    return LocalStorage(root)


def _open_s3(netloc: str, path: str, query: str) -> S3Storage:
    from stockade.storage.s3 import S3Storage  # boto3 is imported only when S3 is used

    if not netloc or "@" in netloc or ":" in netloc:
        raise ValueError("s3:// storage URL must name a bucket: s3://bucket/prefix?endpoint=…")
    params = _single_values(query)
    unknown = sorted(set(params) - _S3_PARAMS)
    if unknown:
        raise ValueError(
            f"unknown s3:// storage URL parameter(s) {unknown}; known: {sorted(_S3_PARAMS)}"
        )
    if ("access_key" in params) != ("secret_key" in params):
        raise ValueError("s3:// storage URL needs both access_key and secret_key, or neither")
    style = params.get("addressing_style", "path")
    if style not in _ADDRESSING_STYLES:
        raise ValueError(
            f"s3:// storage URL addressing_style must be one of {sorted(_ADDRESSING_STYLES)}"
        )
    prefix = unquote(path).strip("/")
    if prefix:
        try:
            check_key(prefix)
        except ValueError:
            raise ValueError(
                f"s3:// storage URL prefix {prefix!r} must be '/'-separated names, no '.' or '..'"
            ) from None
    storage = S3Storage(
        bucket=unquote(netloc),
        prefix=prefix,
        endpoint_url=params.get("endpoint") or None,
        region=params.get("region") or None,
        access_key=params.get("access_key") or None,
        secret_key=params.get("secret_key") or None,
        addressing_style=cast(Literal["auto", "path", "virtual"], style),
    )
    if _flag(params.get("create_bucket", "")):
        storage.create_bucket_if_missing()
    return storage


def _single_values(query: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, given in parse_qs(query, keep_blank_values=True).items():
        if len(given) != 1:
            raise ValueError(f"s3:// storage URL parameter {name!r} is given more than once")
        values[name] = given[0]
    return values


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"s3:// storage URL create_bucket must be 1/0 or true/false, not {value!r}")
