"""Upload 2.0 (PEP 694) requests through an index's in-process client, for tests that need a
staged release and are not about the wire protocol itself."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from support.index import Index

V2 = "application/vnd.pypi.upload.v2+json"
META = {"api-version": "2.0"}


def post(index: Index, url: str, token: str, body: dict[str, Any]) -> httpx.Response:
    return index.client.post(
        url, json={"meta": META, **body}, headers={"Content-Type": V2}, auth=("__token__", token)
    )


def open_session(index: Index, token: str, name: str, version: str) -> httpx.Response:
    return post(index, "/upload/", token, {"name": name, "version": version})


def stage_file(
    index: Index,
    token: str,
    session: dict[str, Any],
    filename: str,
    data: bytes,
    **extra: Any,
) -> dict[str, Any]:
    """Declare, send and complete one file; ``extra`` goes into the declaration. Returns the
    file upload session's body."""
    declared = post(
        index,
        session["links"]["upload"],
        token,
        {
            "filename": filename,
            "size": len(data),
            "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
            "mechanism": "http-post-bytes",
            **extra,
        },
    )
    assert declared.status_code == 202, declared.text
    upload: dict[str, Any] = declared.json()
    sent = index.client.post(
        upload["mechanism"]["file_url"],
        content=data,
        headers={"Content-Type": "application/octet-stream"},
        auth=("__token__", token),
    )
    assert sent.status_code == 204, sent.text
    done = post(index, upload["links"]["complete"], token, {})
    assert done.status_code == 201, done.text
    return upload


def publish(index: Index, token: str, session: dict[str, Any]) -> httpx.Response:
    return post(index, session["links"]["publish"], token, {})
