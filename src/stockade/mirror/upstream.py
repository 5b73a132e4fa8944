"""Reading project pages from an upstream index: PEP 691 JSON first, PEP 503 HTML accepted.

:class:`UpstreamClient` fetches one project page with conditional requests (``If-None-Match``
from the last ETag), timeouts, and retries with exponential backoff on connection errors and 5xx
answers. A page is read in chunks and refused once the bytes actually read pass
``max_page_bytes`` (``Content-Length`` is not trusted). 404 (and 410) mean the project does not
exist upstream. Every field of a file entry is parsed into :class:`UpstreamFile`.

httpx is imported when the first client is made: a worker that never mirrors never loads it.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape as html_unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from packaging.utils import canonicalize_name

__all__ = [
    "ListResult",
    "PageResult",
    "UpstreamClient",
    "UpstreamError",
    "UpstreamFile",
    "UpstreamPage",
    "auth_of",
    "client_for",
    "parse_html",
    "parse_json",
    "parse_root_html",
    "parse_root_json",
]

log = logging.getLogger(__name__)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
ACCEPT = f"{JSON_TYPE}, {HTML_TYPE};q=0.2, text/html;q=0.01"
INTEGRITY_ACCEPT = "application/vnd.pypi.integrity.v1+json, application/json;q=0.5"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# A valid project name (PEP 508), and the links of a PEP 503 root.
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_ROOT_LINK = re.compile(r"<a\b[^>]*>([^<]*)</a>", re.IGNORECASE)


class UpstreamError(Exception):
    """The upstream could not give an answer (down, 5xx after retries, garbage, too big)."""


@dataclass(frozen=True)
class UpstreamFile:
    """One file entry of an upstream page; ``url`` absolute, ``sha256`` lower-case hex."""

    filename: str
    url: str
    sha256: str
    size: int | None = None
    upload_time: dt.datetime | None = None
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    # True when upstream serves a PEP 658 metadata file; its sha256 when given.
    core_metadata: bool = False
    core_metadata_sha256: str | None = None
    provenance_url: str | None = None


@dataclass(frozen=True)
class UpstreamPage:
    """A project page as upstream gave it."""

    name: str
    files: tuple[UpstreamFile, ...]
    versions: tuple[str, ...] = ()
    status: str | None = None
    status_reason: str | None = None
    # Entries left out: no sha256, or an unusable URL (filenames).
    skipped: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class PageResult:
    """What a fetch found: ``"ok"`` (a page), ``"not-modified"`` (the ETag matched) or
    ``"missing"`` (no such project upstream)."""

    outcome: str
    page: UpstreamPage | None = None
    etag: str | None = None
    serial: int | None = None


class UpstreamClient:
    """Fetches project pages from one upstream (a simple root URL)."""

    def __init__(
        self,
        url: str,
        *,
        files_url: str | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 20.0,
        retries: int = 2,
        backoff: float = 0.25,
        max_page_bytes: int = 32 * 1024 * 1024,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self.url = url if url.endswith("/") else url + "/"
        self.files_url = files_url
        self.retries = retries
        self.backoff = backoff
        self.max_page_bytes = max_page_bytes
        self._sleep = sleep
        self._http = httpx.Client(
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=True,
            headers={"user-agent": "stockade-mirror"},
            http2=_h2_available(),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> UpstreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def project_url(self, normalized_name: str) -> str:
        return urljoin(self.url, f"{normalized_name}/")

    def fetch_project(self, normalized_name: str, *, etag: str | None = None) -> PageResult:
        """The project's page, or not-modified / missing; raises UpstreamError."""
        url = self.project_url(normalized_name)
        answer = self._get(url, etag, self.max_page_bytes)
        if answer.outcome != "ok":
            return PageResult(answer.outcome, etag=answer.etag, serial=answer.serial)
        base = self.files_url or answer.url
        try:
            if answer.is_json:
                page = parse_json(answer.body, base)
            else:
                page = parse_html(answer.body, base, normalized_name)
        except (ValueError, TypeError, KeyError) as exc:
            raise UpstreamError(f"{url}: unreadable page ({exc})") from exc
        return PageResult("ok", page=page, etag=answer.etag, serial=answer.serial)

    def fetch_list(self, *, etag: str | None = None, max_bytes: int) -> ListResult:
        """The upstream's project list (its simple root), or not-modified."""
        answer = self._get(self.url, etag, max_bytes)
        if answer.outcome == "missing":
            raise UpstreamError(f"{self.url}: HTTP 404")
        if answer.outcome != "ok":
            return ListResult(answer.outcome, etag=answer.etag, serial=answer.serial)
        try:
            names = parse_root_json(answer.body) if answer.is_json else parse_root_html(answer.body)
        except (ValueError, TypeError, KeyError) as exc:
            raise UpstreamError(f"{self.url}: unreadable project list ({exc})") from exc
        return ListResult("ok", names=names, etag=answer.etag, serial=answer.serial)

    def fetch_provenance(self, url: str, *, max_bytes: int = 1024 * 1024) -> bytes | None:
        """A file's PEP 740 provenance object (raw bytes), None when upstream has none."""
        answer = self._get(url, None, max_bytes, accept=INTEGRITY_ACCEPT)
        return answer.body if answer.outcome == "ok" else None

    def _get(self, url: str, etag: str | None, max_bytes: int, *, accept: str = ACCEPT) -> _Answer:
        """GET with retries and backoff on transport errors, 5xx and 429."""
        import httpx

        headers = {"accept": accept}
        if etag:
            headers["if-none-match"] = etag
        attempt = 0
        while True:
            try:
                return self._get_once(url, headers, max_bytes)
            except (httpx.TransportError, _Retryable) as exc:
                if attempt >= self.retries:
                    raise UpstreamError(f"{url}: {_describe(exc)}") from exc
                self._sleep(self.backoff * (2**attempt))
                attempt += 1

    def _get_once(self, url: str, headers: dict[str, str], max_bytes: int) -> _Answer:
        with self._http.stream("GET", url, headers=headers) as response:
            serial = _int_or_none(response.headers.get("x-pypi-last-serial"))
            etag = response.headers.get("etag")
            if response.status_code == 304:
                return _Answer("not-modified", etag or headers.get("if-none-match"), serial)
            if response.status_code in (404, 410):
                return _Answer("missing", None, serial)
            if response.status_code >= 500 or response.status_code == 429:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code != 200:
                raise UpstreamError(f"{url}: HTTP {response.status_code}")
            # Bounded by the bytes actually read: Content-Length is not trusted.
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise UpstreamError(f"{url}: the page is larger than {max_bytes} bytes")
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
            return _Answer(
                "ok",
                etag,
                serial,
                body=bytes(body),
                is_json=content_type == JSON_TYPE or content_type.endswith("json"),
                url=str(response.url),
            )


@dataclass(frozen=True)
class _Answer:
    outcome: str
    etag: str | None
    serial: int | None
    body: bytes = b""
    is_json: bool = False
    url: str = ""


@dataclass(frozen=True)
class ListResult:
    """An upstream's project list: ``ok`` (with ``names``: (name, normalized) pairs) or
    ``not-modified``."""

    outcome: str
    names: tuple[tuple[str, str], ...] = ()
    etag: str | None = None
    serial: int | None = None


def parse_root_json(body: bytes) -> tuple[tuple[str, str], ...]:
    """A PEP 691 root: its projects' names, with their normalized forms."""
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        raise ValueError("not a PEP 691 project list")
    names = (p.get("name") for p in data["projects"] if isinstance(p, dict))
    return tuple((n, canonicalize_name(n)) for n in names if isinstance(n, str) and _NAME.match(n))


def parse_root_html(body: bytes) -> tuple[tuple[str, str], ...]:
    """A PEP 503 root: the text of each link is a project's name."""
    names = _ROOT_LINK.findall(body.decode("utf-8", "replace"))
    result = []
    for raw in names:
        name = html_unescape(raw).strip()
        if _NAME.match(name):
            result.append((name, canonicalize_name(name)))
    return tuple(result)


class _Retryable(Exception):
    pass


def _h2_available() -> bool:
    """HTTP/2 is offered (over TLS, by ALPN) when h2 is installed (``httpx[http2]``)."""
    return importlib.util.find_spec("h2") is not None


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _absolute(base: str, href: str) -> str | None:
    url, _ = urldefrag(urljoin(base, href))
    return url if urlsplit(url).scheme in ("http", "https") else None


def _filename_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def _metadata(value: Any) -> tuple[bool, str | None]:
    """PEP 658/714 ``core-metadata`` (or the legacy ``dist-info-metadata``): present? sha256?"""
    if value is True:
        return True, None
    if isinstance(value, dict):
        sha = value.get("sha256")
        return True, sha.lower() if isinstance(sha, str) and _SHA256.match(sha.lower()) else None
    return False, None


def parse_json(body: bytes, base: str) -> UpstreamPage:
    """A PEP 691 project page (with PEP 700 ``versions``/``size``/``upload-time``, PEP 714
    ``core-metadata``, PEP 740 ``provenance`` and PEP 792 ``project-status``)."""
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ValueError("not a PEP 691 project page")
    files: list[UpstreamFile] = []
    skipped: list[str] = []
    for entry in data["files"]:
        if not isinstance(entry, dict):
            continue
        filename = entry.get("filename")
        url = _absolute(base, entry.get("url", "")) if isinstance(entry.get("url"), str) else None
        hashes = entry.get("hashes")
        sha = hashes.get("sha256") if isinstance(hashes, dict) else None
        sha = sha.lower() if isinstance(sha, str) else None
        if not isinstance(filename, str) or url is None or sha is None or not _SHA256.match(sha):
            skipped.append(str(filename))
            continue
        meta = entry.get("core-metadata", entry.get("data-dist-info-metadata"))
        if meta is None:
            meta = entry.get("dist-info-metadata")
        has_meta, meta_sha = _metadata(meta)
        yanked = entry.get("yanked", False)
        size = entry.get("size")
        provenance = entry.get("provenance")
        files.append(
            UpstreamFile(
                filename=filename,
                url=url,
                sha256=sha,
                size=size if isinstance(size, int) and size >= 0 else None,
                upload_time=_time(entry.get("upload-time")),
                requires_python=entry.get("requires-python") or None,
                yanked=bool(yanked),
                yanked_reason=yanked if isinstance(yanked, str) and yanked else None,
                core_metadata=has_meta,
                core_metadata_sha256=meta_sha,
                provenance_url=(
                    _absolute(base, provenance) if isinstance(provenance, str) else None
                ),
            )
        )
    status = data.get("project-status")
    if not isinstance(status, dict):
        status = {}
    versions = data.get("versions")
    return UpstreamPage(
        name=str(data.get("name") or ""),
        files=tuple(files),
        versions=tuple(v for v in versions if isinstance(v, str))
        if isinstance(versions, list)
        else (),
        status=status.get("status") if isinstance(status.get("status"), str) else None,
        status_reason=status.get("reason") if isinstance(status.get("reason"), str) else None,
        skipped=tuple(skipped),
    )


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, str | None]] = []
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))
        elif tag == "meta":
            a = dict(attrs)
            if a.get("name") and a.get("content") is not None:
                self.meta[str(a["name"])] = str(a["content"])


def parse_html(body: bytes, base: str, name: str) -> UpstreamPage:
    """A PEP 503 project page (with PEP 592 ``data-yanked``, PEP 658/714 metadata, PEP 740
    ``data-provenance`` and PEP 792 ``pypi:project-status``)."""
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))
    parser.close()
    files: list[UpstreamFile] = []
    skipped: list[str] = []
    for a in parser.anchors:
        href = a.get("href")
        url = _absolute(base, href) if href else None
        fragment = urldefrag(urljoin(base, href or "")).fragment
        algo, _, digest = fragment.partition("=")
        filename = _filename_of(url) if url else str(href)
        if url is None or algo != "sha256" or not _SHA256.match(digest.lower()):
            skipped.append(filename)
            continue
        meta_attr = a.get("data-core-metadata", a.get("data-dist-info-metadata"))
        has_meta, meta_sha = False, None
        if meta_attr is not None:
            has_meta = meta_attr.lower() != "false"
            m_algo, _, m_digest = meta_attr.partition("=")
            if m_algo == "sha256" and _SHA256.match(m_digest.lower()):
                meta_sha = m_digest.lower()
        yanked = a.get("data-yanked")
        provenance = a.get("data-provenance")
        files.append(
            UpstreamFile(
                filename=filename,
                url=url,
                sha256=digest.lower(),
                requires_python=a.get("data-requires-python") or None,
                yanked=yanked is not None,
                yanked_reason=yanked or None,
                core_metadata=has_meta,
                core_metadata_sha256=meta_sha,
                provenance_url=_absolute(base, provenance) if provenance else None,
            )
        )
    return UpstreamPage(
        name=name,
        files=tuple(files),
        status=parser.meta.get("pypi:project-status"),
        status_reason=parser.meta.get("pypi:project-status-reason"),
        skipped=tuple(skipped),
    )


def auth_of(username: str | None, password: str | None) -> tuple[str, str] | None:
    return (username, password or "") if username else None


def client_for(upstream: Any, **kwargs: Any) -> UpstreamClient:
    """A client for a ``MirrorUpstream`` row."""
    return UpstreamClient(
        upstream.url,
        files_url=upstream.files_url,
        auth=auth_of(upstream.username, upstream.password),
        **kwargs,
    )
