"""The legacy JSON API: ``/pypi/<project>/json`` and ``/pypi/<project>/<version>/json``, with
PyPI's fields. ``vulnerabilities`` is there only once advisories have been imported
(:mod:`stockade.advisories`): without data, an empty list would claim "none known".

The same documents under a policy view (``/views/<view>/pypi/…``) hold only the files the
view lets through, and only the releases with one of them; their file URLs lead to the view's
own ``/views/<view>/packages/…``, which serves nothing else."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import JSONResponse, RedirectResponse, Response

from stockade.advisories.queries import any_imported, matches_for, pypi_vulnerabilities
from stockade.index.models import File, Project, Release
from stockade.index.paths import file_path
from stockade.index.state import version_key
from stockade.mirror.views import select_state, view_policy
from stockade.stats.counts import recent_downloads
from stockade.verified.services import verified_links
from stockade.web.context import AppContext, Ctx

__all__ = ["file_document", "project_document", "release_document", "router"]

router = APIRouter()


def file_document(f: File, release: Release, base_url: str) -> dict[str, Any]:
    """One file as PyPI's JSON API shows it (XML-RPC's ``release_urls`` picks from it too)."""
    upload = f.upload_time.astimezone(dt.UTC)
    return {
        "comment_text": f.comment_text,
        "digests": {
            "blake2b_256": f.blake2_256_digest,
            "md5": f.md5_digest,
            "sha256": f.sha256_digest,
        },
        "downloads": -1,
        "filename": f.filename,
        "has_sig": False,
        "md5_digest": f.md5_digest,
        # PEP 658/714: the metadata sidecar's hash, which mirrors (bandersnatch) fetch too.
        "core-metadata": {"sha256": f.metadata_sha256} if f.metadata_sha256 else False,
        "packagetype": f.packagetype,
        "python_version": f.python_version,
        "requires_python": f.requires_python,
        "size": f.size,
        "upload_time": upload.strftime("%Y-%m-%dT%H:%M:%S"),
        "upload_time_iso_8601": upload.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "url": base_url + file_path(f.sha256_digest, f.filename),
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason if release.yanked else None,
    }


def _latest(releases: list[Release]) -> Release:
    """PyPI's choice for ``info``: newest non-yanked final release, else newest of any."""

    def key(r: Release) -> Any:
        return version_key(r.version)

    def is_pre(r: Release) -> bool:
        try:
            return Version(r.version).is_prerelease
        except InvalidVersion:
            return False

    live = [r for r in releases if not r.yanked]
    finals = [r for r in live if not is_pre(r)]
    return max(finals or live or releases, key=key)


def _project_urls(meta: dict[str, Any]) -> dict[str, str] | None:
    """PyPI's ``project_urls``: ``Homepage`` and ``Download`` from the old Home-page and
    Download-URL fields first, then every Project-URL (a label given there wins)."""
    urls: dict[str, str] = {}
    for key, label in (("home_page", "Homepage"), ("download_url", "Download")):
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            urls[label] = value.strip()
    given = meta.get("project_urls")
    if isinstance(given, dict):
        urls.update({str(label): str(url) for label, url in given.items()})
    return urls or None


def _verified_urls(
    session: Session, project: Project, info: dict[str, Any], base_url: str
) -> list[str]:
    """The URLs of ``project_urls`` that are verified (a trusted publisher's repository, a
    domain the owners verified, this index's page of the project), as the project page marks
    them."""
    pairs = list((info.get("project_urls") or {}).items())
    links = verified_links(session, project, pairs, base_url=base_url)
    return [link.url for link in links if link.verified]


def _info(project: Project, release: Release, base_url: str) -> dict[str, Any]:
    meta = release.metadata_json or {}
    project_url = f"{base_url}/project/{project.normalized_name}/"
    return {
        "author": meta.get("author"),
        "author_email": meta.get("author_email"),
        "bugtrack_url": None,
        "classifiers": meta.get("classifiers") or [],
        "description": meta.get("description") or "",
        "description_content_type": meta.get("description_content_type"),
        "docs_url": None,
        "download_url": meta.get("download_url"),
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        "dynamic": meta.get("dynamic"),
        "home_page": meta.get("home_page"),
        "keywords": meta.get("keywords"),
        "license": meta.get("license"),
        "license_expression": meta.get("license_expression"),
        "license_files": meta.get("license_files"),
        "maintainer": meta.get("maintainer"),
        "maintainer_email": meta.get("maintainer_email"),
        "name": project.name,
        "package_url": project_url,
        "platform": meta.get("platform"),
        "project_url": project_url,
        "project_urls": _project_urls(meta),
        "provides_extra": meta.get("provides_extra"),
        "release_url": f"{project_url}{release.version}/",
        "requires_dist": meta.get("requires_dist"),
        "requires_python": release.requires_python,
        "summary": release.summary,
        "version": release.version,
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason if release.yanked else None,
    }


def _load(
    session: Session, project: Project, keep: frozenset[str] | None
) -> tuple[list[Release], dict[int, list[File]]]:
    """The live releases and their files; with ``keep``, only those files, and only the
    releases with one of them."""
    releases = list(
        session.scalars(
            select(Release).where(Release.project_id == project.id, Release.deletion_id.is_(None))
        )
    )
    files: dict[int, list[File]] = {r.id: [] for r in releases}
    # Only files of the releases read above: on PostgreSQL each statement sees its own
    # snapshot, and a release committed between the two queries is simply not there yet.
    for f in session.scalars(
        select(File)
        .where(
            File.project_id == project.id,
            File.deletion_id.is_(None),
            File.release_id.in_(list(files)),
        )
        .order_by(File.filename)
    ):
        if keep is None or f.filename in keep:
            files[f.release_id].append(f)
    if keep is not None:
        releases = [r for r in releases if files[r.id]]
    return releases, files


def _with_vulnerabilities(
    session: Session, doc: dict[str, Any], project: Project, release: Release
) -> dict[str, Any]:
    """``doc`` with PyPI's ``vulnerabilities`` of ``release``; without the key when no
    advisories were ever imported, so that "none known" is never claimed without data."""
    if any_imported(session):
        matches = matches_for(session, project.normalized_name, release.version)
        doc["vulnerabilities"] = pypi_vulnerabilities(matches)
    return doc


def project_document(
    session: Session,
    project: Project,
    base_url: str,
    *,
    files_base: str | None = None,
    keep: frozenset[str] | None = None,
) -> dict[str, Any] | None:
    """The whole-project document, or None when the project has no releases. With ``keep``
    (a view's file names), only those files and the releases with one of them; file URLs
    under ``files_base`` (default: ``base_url``)."""
    files_base = files_base or base_url
    releases, files = _load(session, project, keep)
    if not releases or project.status == "quarantined" or project.deletion_id is not None:
        return None
    latest = _latest(releases)
    by_version = sorted(releases, key=lambda r: version_key(r.version))
    info = _info(project, latest, base_url)
    info["downloads"] = recent_downloads(session, project.id).as_dict()
    info["verified_urls"] = _verified_urls(session, project, info, base_url)
    doc = {
        "info": info,
        "last_serial": project.last_serial,
        "releases": {
            r.version: [file_document(f, r, files_base) for f in files[r.id]] for r in by_version
        },
        "urls": [file_document(f, latest, files_base) for f in files[latest.id]],
    }
    # As on PyPI, the project's document carries the latest release's vulnerabilities.
    return _with_vulnerabilities(session, doc, project, latest)


def release_document(
    session: Session,
    project: Project,
    version: str,
    base_url: str,
    *,
    files_base: str | None = None,
    keep: frozenset[str] | None = None,
) -> dict[str, Any] | None:
    """One release's document, or None when there is no such release (or, with ``keep``, a
    view's file names, when none of its files is one of them)."""
    files_base = files_base or base_url
    if project.status == "quarantined" or project.deletion_id is not None:
        return None
    canonical = canonicalize_version(version)
    release = session.scalar(
        select(Release).where(
            Release.project_id == project.id,
            Release.canonical_version == canonical,
            Release.deletion_id.is_(None),
        )
    )
    if release is None:
        return None
    files = session.scalars(
        select(File)
        .where(File.release_id == release.id, File.deletion_id.is_(None))
        .order_by(File.filename)
    ).all()
    if keep is not None:
        files = [f for f in files if f.filename in keep]
        if not files:
            return None
    info = _info(project, release, base_url)
    info["downloads"] = recent_downloads(session, project.id).as_dict()
    info["verified_urls"] = _verified_urls(session, project, info, base_url)
    doc = {
        "info": info,
        "last_serial": project.last_serial,
        "urls": [file_document(f, release, files_base) for f in files],
    }
    return _with_vulnerabilities(session, doc, project, release)


# -- the routes ------------------------------------------------------------------------------


def load_project(ctx: AppContext, normalized: str, build: Any) -> Any:
    """``build(session, project)`` for the project with this name, or None if there is none."""
    with ctx.db.read() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == normalized))
        if project is None:
            return None
        return build(session, project)


def _json_or_404(doc: dict[str, Any] | None) -> Response:
    if doc is None:
        return JSONResponse({"message": "Not Found"}, status_code=404)
    headers = {"cache-control": "max-age=60, public", "x-pypi-last-serial": str(doc["last_serial"])}
    return JSONResponse(doc, headers=headers)


@router.get("/pypi/{name}/json", include_in_schema=False)
def project_json(name: str, request: Request, ctx: Ctx) -> Response:
    """``/pypi/<project>/json``, PyPI's fields."""
    normalized = canonicalize_name(name)
    if name != normalized:
        return RedirectResponse(f"/pypi/{normalized}/json", status_code=301)
    base = ctx.base_url(request)
    return _json_or_404(load_project(ctx, normalized, lambda s, p: project_document(s, p, base)))


@router.get("/pypi/{name}/{version}/json", include_in_schema=False)
def release_json(name: str, version: str, request: Request, ctx: Ctx) -> Response:
    """``/pypi/<project>/<version>/json``, PyPI's fields."""
    normalized = canonicalize_name(name)
    if name != normalized:
        return RedirectResponse(f"/pypi/{normalized}/{version}/json", status_code=301)
    base = ctx.base_url(request)
    return _json_or_404(
        load_project(ctx, normalized, lambda s, p: release_document(s, p, version, base))
    )


# -- the same under a policy view ----------------------------------------------------------


def _view_json(
    view: str, name: str, tail: str, request: Request, ctx: AppContext, build: Any
) -> Response:
    """``build(session, project, base_url, files_base, keep)`` under the view ``view``, with
    the file names it lets through; 404 when there is no such view or project, 301 to the
    normalized name."""
    normalized = canonicalize_name(name)
    prefix = f"/views/{quote(view)}"
    if name != normalized:
        return RedirectResponse(f"{prefix}/pypi/{normalized}/{tail}", status_code=301)
    base = ctx.base_url(request)

    def in_view(session: Session, project: Project) -> Any:
        policy = view_policy(session, view)
        if policy is None or project.deletion_id is not None:
            return None
        keep = frozenset(f.filename for f in select_state(session, policy, project).files)
        return build(session, project, base, base + prefix, keep)

    return _json_or_404(load_project(ctx, normalized, in_view))


@router.get("/views/{view}/pypi/{name}/json", include_in_schema=False)
def view_project_json(view: str, name: str, request: Request, ctx: Ctx) -> Response:
    """``/pypi/<project>/json`` as the view ``view`` selects it."""
    return _view_json(view, name, "json", request, ctx, _project_in_view)


@router.get("/views/{view}/pypi/{name}/{version}/json", include_in_schema=False)
def view_release_json(view: str, name: str, version: str, request: Request, ctx: Ctx) -> Response:
    """``/pypi/<project>/<version>/json`` as the view ``view`` selects it: 404 for a version
    the view leaves out."""

    def build(s: Session, p: Project, base: str, files_base: str, keep: frozenset[str]) -> Any:
        return release_document(s, p, version, base, files_base=files_base, keep=keep)

    return _view_json(view, name, f"{version}/json", request, ctx, build)


def _project_in_view(
    s: Session, p: Project, base: str, files_base: str, keep: frozenset[str]
) -> Any:
    return project_document(s, p, base, files_base=files_base, keep=keep)
