"""'stockade publish': a PEP 694 (Upload 2.0) client for any index that speaks it.

'--stage URL FILES…' opens a publishing session at the Upload 2.0 root 'URL' for the files'
release (or joins the live one the index points at with its 409), uploads each file by
'http-post-bytes' and completes it, and prints the session URL and, on the last line, the
stage (preview) URL. Running it again resumes: files the session already completed are
skipped, unfinished ones are started over. '--publish', '--cancel' and '--status' take
the session URL. Every other URL is discovered from the index's responses, as the PEP says.
The API token comes from '--token' or 'STOCKADE_UPLOAD_TOKEN'.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from stockade.cli.common import err

__all__ = ["publish"]

V2 = "application/vnd.pypi.upload.v2+json"
META = {"api-version": "2.0"}
_CHUNK = 256 * 1024


class _Failed(Exception):
    pass


def _release_of(path: Path) -> tuple[str, str]:
    try:
        if path.name.endswith(".whl"):
            name, version, *_ = parse_wheel_filename(path.name)
        else:
            name, version = parse_sdist_filename(path.name)
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise _Failed(f"not a distribution file name: {path.name}") from exc
    return name, canonicalize_version(version)


def _check(response: httpx.Response, *ok: int) -> dict[str, Any]:
    if response.status_code not in ok:
        detail = response.text.strip()
        try:
            body = response.json()
            detail = body.get("detail") or body.get("title") or detail
        except ValueError:
            pass
        raise _Failed(f"{response.request.method} {response.url}: {response.status_code} {detail}")
    if response.status_code == 204 or not response.content:
        return {}
    data: dict[str, Any] = response.json()
    return data


class _Client:
    def __init__(self, token: str) -> None:
        self.http = httpx.Client(auth=("__token__", token), timeout=120, follow_redirects=False)

    def post(self, url: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(url, json={"meta": META, **body}, headers={"Content-Type": V2})

    def session(self, root: str, name: str, version: str) -> dict[str, Any]:
        created = self.post(root, {"name": name, "version": version})
        if created.status_code == 409 and "location" in created.headers:
            # A live session for this release: join it (this is how an upload resumes).
            err.print(f"joining the open session {created.headers['location']}")
            return _check(self.http.get(created.headers["location"]), 200)
        return _check(created, 201)

    def upload(self, session: dict[str, Any], path: Path, progress: Progress) -> None:
        data_size = path.stat().st_size
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(block)
        declared = self.post(
            session["links"]["upload"],
            {
                "filename": path.name,
                "size": data_size,
                "hashes": {"sha256": digest.hexdigest()},
                "mechanism": "http-post-bytes",
            },
        )
        upload = _check(declared, 202)
        mechanism = upload["mechanism"]
        if mechanism.get("identifier") != "http-post-bytes":
            raise _Failed(f"the index chose an unknown mechanism {mechanism.get('identifier')!r}")
        task = progress.add_task(path.name, total=data_size)

        def body() -> Iterator[bytes]:
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(_CHUNK), b""):
                    progress.advance(task, len(block))
                    yield block

        sent = self.http.post(
            mechanism["file_url"],
            content=body(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(data_size)},
        )
        _check(sent, 200, 201, 202, 204)
        done = _check(self.post(upload["links"]["complete"], {}), 201, 202)
        status = done.get("status")
        while status == "processing":
            polled = self.http.get(upload["links"]["file-upload-session"])
            status = _check(polled, 200).get("status")
        if status != "completed":
            raise _Failed(f"{path.name}: the index says {status}")


def _stage(client: _Client, root: str, files: list[Path]) -> None:
    releases = {_release_of(path) for path in files}
    if len(releases) != 1:
        raise _Failed("stage one release (one name and version) at a time")
    (name, version) = releases.pop()
    session = client.session(root, name, version)
    existing = session.get("files", {})
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=err
    ) as progress:
        for path in files:
            known = existing.get(path.name)
            if known is not None and known.get("status") == "completed":
                err.print(f"{path.name}: already staged")
                continue
            if known is not None:
                # Unfinished or failed: start this file over, as the PEP says.
                _check(client.http.delete(known["link"]), 204, 404)
            client.upload(session, path, progress)
    typer.echo(session["links"]["session"])
    stage = session["links"].get("stage")
    if stage is None:
        err.print("this index offers no preview of staged releases")
    else:
        typer.echo(stage)


def publish(
    files: Annotated[list[Path] | None, typer.Argument(help="Distribution files.")] = None,
    stage: Annotated[
        str | None, typer.Option("--stage", help="Stage FILES at this Upload 2.0 root URL.")
    ] = None,
    publish_url: Annotated[
        str | None, typer.Option("--publish", help="Publish the session at this URL.")
    ] = None,
    cancel: Annotated[
        str | None, typer.Option("--cancel", help="Cancel the session at this URL.")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Show the session at this URL.")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="STOCKADE_UPLOAD_TOKEN", help="API token.")
    ] = None,
) -> None:
    """Stage a release through PEP 694 (Upload 2.0), then publish or cancel it."""
    chosen = [o for o in (stage, publish_url, cancel, status) if o is not None]
    if len(chosen) != 1:
        err.print("[red]error:[/] give one of --stage, --publish, --cancel, --status")
        raise typer.Exit(2)
    if not token:
        err.print("[red]error:[/] no API token (--token or STOCKADE_UPLOAD_TOKEN)")
        raise typer.Exit(2)
    client = _Client(token)
    try:
        if stage is not None:
            if not files:
                err.print("[red]error:[/] --stage needs files")
                raise typer.Exit(2)
            _stage(client, stage, files)
        elif publish_url is not None:
            session = _check(client.http.get(publish_url), 200)
            done = _check(client.post(session["links"]["publish"], {}), 201, 202)
            typer.echo(done.get("status", "processing"))
        elif cancel is not None:
            _check(client.http.delete(cancel), 204)
            typer.echo("canceled")
        else:
            assert status is not None
            session = _check(client.http.get(status), 200)
            typer.echo(f"{session['status']} until {session['expires-at']}")
            for filename, info in sorted(session.get("files", {}).items()):
                typer.echo(f"  {filename}: {info['status']}")
    except (_Failed, httpx.HTTPError, OSError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
