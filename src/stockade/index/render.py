"""Rendering simple-API pages (PEP 503 HTML and PEP 691 JSON) from a project's state.

Pure functions of (state, view): no I/O. The same code renders the public pages and, later,
policy views and staged-release previews. URLs are relative to the page (``../../packages/…``)
so pages work behind any host name or path prefix.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from stockade.index.paths import file_path

__all__ = [
    "API_VERSION",
    "FileEntry",
    "ProjectState",
    "render_project_html",
    "render_project_json",
    "render_root_html",
    "render_root_json",
    "with_base_url",
]

# 1.5: PEP 752's namespaces (the project detail's ``namespaces`` key, /namespaces).
API_VERSION = "1.5"


@dataclass(frozen=True)
class FileEntry:
    """One file as the simple API shows it."""

    filename: str
    version: str
    sha256: str
    size: int
    upload_time: dt.datetime
    requires_python: str | None
    # False when not yanked; otherwise the reason ("" when none was given).
    yanked: bool | str
    metadata_sha256: str | None
    provenance_url: str | None = None


@dataclass(frozen=True)
class ProjectState:
    """Everything the simple pages of one project are rendered from."""

    name: str
    normalized_name: str
    serial: int
    status: str
    status_reason: str | None
    versions: tuple[str, ...]
    files: tuple[FileEntry, ...]
    # PEP 752: (namespace, owned) of each grant covering the name; None when none does.
    namespaces: tuple[tuple[str, bool], ...] | None = None


def _relative_url(entry: FileEntry) -> str:
    # Pages live at /simple/<name>/, two levels below the root.
    return "../.." + file_path(entry.sha256, entry.filename)


# How every stored page links a provenance object: relative to /simple/<name>/.
_PROVENANCE_PREFIX = "../../"
_HTML_PROVENANCE = b'data-provenance="' + _PROVENANCE_PREFIX.encode()


def with_base_url(html_body: bytes, json_body: bytes, base_url: str) -> tuple[bytes, bytes]:
    """The stored pages with their provenance links made fully qualified under ``base_url``.

    PEP 740 wants ``data-provenance`` (and the JSON ``provenance``) to be a fully qualified URL.
    Stored pages keep the relative link, so they do not depend on the configured base URL (it
    may change without re-rendering anything); each worker qualifies the links when it loads a
    page. The public base URL is only known when ``base_url`` is configured (the Host header is
    the client's to choose and must never end up in a cached page), so with an empty
    ``base_url`` the links stay relative: they resolve correctly, but are not fully qualified.
    """
    if not base_url:
        return html_body, json_body
    base = base_url.rstrip("/") + "/"
    # Only the renderer writes data-provenance="../../…": text from users is HTML-escaped, so
    # it cannot contain the attribute's quote.
    html_body = html_body.replace(
        _HTML_PROVENANCE, b'data-provenance="' + html.escape(base).encode("utf-8")
    )
    if b'"provenance":"' + _PROVENANCE_PREFIX.encode() in json_body:
        doc = json.loads(json_body)
        for f in doc["files"]:
            link = f.get("provenance")
            if isinstance(link, str) and link.startswith(_PROVENANCE_PREFIX):
                f["provenance"] = base + link.removeprefix(_PROVENANCE_PREFIX)
        json_body = _dumps(doc)
    return html_body, json_body


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _visible_files(state: ProjectState) -> tuple[FileEntry, ...]:
    # PEP 792: a quarantined project lists no files.
    return () if state.status == "quarantined" else state.files


def render_project_html(state: ProjectState) -> bytes:
    """The PEP 503 page (with PEP 592, 658/714, 740 and 792 attributes)."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>\n<html>\n  <head>\n",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n',
    ]
    if state.status != "active":
        out.append(f'    <meta name="pypi:project-status" content="{esc(state.status)}">\n')
        if state.status_reason:
            out.append(
                f'    <meta name="pypi:project-status-reason" '
                f'content="{esc(state.status_reason)}">\n'
            )
    out.append(f"    <title>Links for {esc(state.normalized_name)}</title>\n  </head>\n  <body>\n")
    out.append(f"    <h1>Links for {esc(state.normalized_name)}</h1>\n")
    for f in _visible_files(state):
        attrs = [f'href="{esc(_relative_url(f))}#sha256={f.sha256}"']
        if f.requires_python:
            attrs.append(f'data-requires-python="{esc(f.requires_python)}"')
        if f.metadata_sha256:
            meta = f"sha256={f.metadata_sha256}"
            attrs.append(f'data-dist-info-metadata="{meta}"')
            attrs.append(f'data-core-metadata="{meta}"')
        if f.yanked is not False:
            attrs.append(f'data-yanked="{esc(str(f.yanked))}"')
        if f.provenance_url:
            attrs.append(f'data-provenance="{esc(f.provenance_url)}"')
        out.append(f"    <a {' '.join(attrs)}>{esc(f.filename)}</a><br />\n")
    out.append("  </body>\n</html>\n")
    return "".join(out).encode("utf-8")


def render_project_json(state: ProjectState) -> bytes:
    """The PEP 691 page, api-version 1.5 (PEP 700 versions/size/upload-time, PEP 792 status,
    PEP 752 namespaces)."""
    files = []
    for f in _visible_files(state):
        meta: dict[str, str] | bool = {"sha256": f.metadata_sha256} if f.metadata_sha256 else False
        files.append(
            {
                "filename": f.filename,
                "url": _relative_url(f),
                "hashes": {"sha256": f.sha256},
                "requires-python": f.requires_python,
                "core-metadata": meta,
                "data-dist-info-metadata": meta,
                "yanked": f.yanked,
                "size": f.size,
                "upload-time": _iso(f.upload_time),
                "provenance": f.provenance_url,
            }
        )
    status: dict[str, str] = {"status": state.status}
    if state.status_reason and state.status != "active":
        status["reason"] = state.status_reason
    doc = {
        "meta": {"api-version": API_VERSION, "_last-serial": state.serial},
        "name": state.normalized_name,
        "project-status": status,
        "versions": list(state.versions),
        "files": files,
        "namespaces": (
            None
            if state.namespaces is None
            else [{"name": name, "owned": owned} for name, owned in state.namespaces]
        ),
    }
    return _dumps(doc)


def render_root_html(names: list[tuple[str, str]]) -> bytes:
    """The PEP 503 root: one link per project. ``names`` holds (name, normalized_name)."""
    out = [
        "<!DOCTYPE html>\n<html>\n  <head>\n",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n',
        "    <title>Simple index</title>\n  </head>\n  <body>\n",
    ]
    out.extend(f'    <a href="{quote(norm)}/">{html.escape(name)}</a>\n' for name, norm in names)
    out.append("  </body>\n</html>\n")
    return "".join(out).encode("utf-8")


def render_root_json(
    names: list[tuple[str, str]], serial: int, serials: Mapping[str, int] | None = None
) -> bytes:
    """The PEP 691 root. As on PyPI, each project whose serial is known (``serials``, by
    normalized name) carries it as ``_last-serial``: mirrors (bandersnatch) sync from it."""
    known = serials or {}
    projects: list[dict[str, str | int]] = []
    for name, normalized in names:
        entry: dict[str, str | int] = {"name": name}
        if normalized in known:
            entry["_last-serial"] = known[normalized]
        projects.append(entry)
    doc = {"meta": {"api-version": API_VERSION, "_last-serial": serial}, "projects": projects}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
