"""Blob storage in an S3-compatible object store (AWS S3, MinIO, SeaweedFS, Ceph…) via boto3.

An S3 PUT (and a completed multipart upload) is atomic, so readers never see a partial object.
Because keys are content-addressed, a put first asks whether the key exists and skips the upload.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from stockade.storage.interface import (
    DEFAULT_CHUNK_SIZE,
    BlobNotFound,
    check_key,
    check_prefix,
    check_range,
)

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CreateBucketConfigurationTypeDef

__all__ = ["AddressingStyle", "S3Storage"]

AddressingStyle = Literal["auto", "path", "virtual"]

_MiB = 1024 * 1024
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_TRANSFER = TransferConfig(
    multipart_threshold=32 * _MiB,
    multipart_chunksize=16 * _MiB,
    max_concurrency=4,
)


class S3Storage:
    """Blobs as objects in ``bucket``, each key stored as ``<prefix>/<key>``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        addressing_style: AddressingStyle = "path",
        *,
        max_attempts: int = 5,
    ) -> None:
        """Connect lazily; missing credentials fall back to boto3's chain (``AWS_*`` variables…)."""
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        prefix = prefix.strip("/")
        self.bucket = bucket
        self.prefix = check_key(prefix) if prefix else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self._key_prefix = self.prefix + "/" if self.prefix else ""
        config = Config(
            region_name=region,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=32,
            s3={"addressing_style": addressing_style},
            # Non-AWS stores vary in their support of the newer flexible checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session per store: boto3's default session is not safe to share across threads.
        session = boto3.session.Session()
        self._client: S3Client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    # -- bucket ------------------------------------------------------------------------------

    def create_bucket_if_missing(self) -> None:
        """Create the bucket unless it already exists (and is ours)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise
        try:
            if self.region and self.region != "us-east-1":
                self._client.create_bucket(
                    Bucket=self.bucket,
                    # Non-AWS stores accept region names the stubs' Literal does not list.
                    CreateBucketConfiguration=cast(
                        "CreateBucketConfigurationTypeDef", {"LocationConstraint": self.region}
                    ),
                )
            else:
                self._client.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise

    # -- writing -----------------------------------------------------------------------------

    def put_file(self, key: str, source: Path) -> None:
        """Upload ``source`` (multipart when large); a no-op if ``key`` already exists."""
        name = self._name(key)
        os.stat(source)  # the caller's missing file is their error, raised before any request
        if self._head(name) is not None:
            return
        self._client.upload_file(str(source), self.bucket, name, Config=_TRANSFER)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Upload ``data`` in one PUT; a no-op if ``key`` already exists."""
        name = self._name(key)
        if self._head(name) is not None:
            return
        self._client.put_object(Bucket=self.bucket, Key=name, Body=data)

    def delete(self, key: str) -> None:
        """Delete the object; a missing key is fine (S3 deletes are idempotent)."""
        name = self._name(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) not in _NOT_FOUND_CODES:
                raise

    # -- reading -----------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        """Whether the object exists (one HEAD request)."""
        return self._head(self._name(key)) is not None

    def size(self, key: str) -> int:
        """The object's length in bytes."""
        length = self._head(self._name(key))
        if length is None:
            raise BlobNotFound(key)
        return length

    def get_bytes(self, key: str) -> bytes:
        """The whole object in memory."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            raise _translate(exc, key) from None
        with response["Body"] as body:
            return body.read()

    def iter_range(
        self,
        key: str,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> Iterator[bytes]:
        """Stream bytes ``[start, end)`` with one ranged GET, issued (or refused) by this call."""
        check_range(start, end, chunk_size)
        name = self._name(key)
        if end == start:
            self.size(key)  # an empty range still needs the key to exist
            return iter(())
        ranged = start > 0 or end is not None
        try:
            if ranged:
                wanted = f"bytes={start}-" + ("" if end is None else str(end - 1))
                response = self._client.get_object(Bucket=self.bucket, Key=name, Range=wanted)
            else:
                response = self._client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) == "InvalidRange":  # start at or past the end: nothing to send
                self.size(key)
                return iter(())
            raise _translate(exc, key) from None
        limit = None if end is None else end - start
        # A store that ignores Range answers 200 with the whole object: skip to ``start``.
        partial = response["ResponseMetadata"]["HTTPStatusCode"] == 206
        skip = start if ranged and not partial else 0
        return _stream(response["Body"], skip, limit, chunk_size)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with ``prefix``, in the store's listing order."""
        check_prefix(prefix)
        strip = len(self._key_prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key_prefix + prefix):
            for item in page.get("Contents", []):
                key = item.get("Key", "")[strip:]
                if _is_valid_key(key):  # skips "folder/" markers other tools may create
                    yield key

    def local_path(self, key: str) -> Path | None:
        """Always ``None``: objects have no local file."""
        check_key(key)
        return None

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()

    # -- internals ---------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return self._key_prefix + check_key(key)

    def _head(self, name: str) -> int | None:
        """The object's size, or ``None`` when it does not exist."""
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND_CODES:
                return None
            raise
        return response["ContentLength"]


def _stream(body: StreamingBody, skip: int, limit: int | None, chunk_size: int) -> Iterator[bytes]:
    try:
        while skip > 0:
            dropped = body.read(min(skip, chunk_size))
            if not dropped:
                return
            skip -= len(dropped)
        remaining = limit
        while remaining is None or remaining > 0:
            want = chunk_size if remaining is None else min(chunk_size, remaining)
            chunk = body.read(want)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk
    finally:
        body.close()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translate(exc: ClientError, key: str) -> Exception:
    return BlobNotFound(key) if _code(exc) in _NOT_FOUND_CODES else exc


def _is_valid_key(key: str) -> bool:
    try:
        check_key(key)
    except ValueError:
        return False
    return True
