"""A plain upstream index for mirror tests: a static PEP 691/503 tree served by http.server on
127.0.0.1, with hostile modes per file.

    with StaticUpstream.start(tmp_path / "up") as up:
        up.add_project("demo", [("demo-1.0-py3-none-any.whl", data)])
        up.url                     # http://127.0.0.1:PORT/simple/  (the simple root)
        up.file_url(filename)      # http://127.0.0.1:PORT/files/<filename>
        up.set_mode(filename, "corrupt")   # or cut / error / slow / stall / None
        up.gets(filename)          # how many GETs that file received

    StaticUpstream.start(root, credentials=("user", "secret")) answers 401 to every request
    without that HTTP basic authorization (a private index).

Pages: ``/simple/<name>/`` answers JSON (``application/vnd.pypi.simple.v1+json``) when the
client's Accept asks for it, HTML otherwise; ``/simple/`` lists the projects. File entries
carry sha256, size, upload-time and, for wheels, core-metadata (a ``.metadata`` sidecar).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import html
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import select

from stockade.db import Database
from stockade.db.base import utcnow
from stockade.dists import parse_filename
from stockade.index.models import File, Project, Release
from stockade.index.paths import file_path
from stockade.index.state import journal, rerender
from stockade.mirror.models import FILE_PUBLISHED, MirrorFile, MirrorProject, MirrorUpstream

JSON_TYPE = "application/vnd.pypi.simple.v1+json"

# corrupt: the right length, one byte flipped half-way; cut: the full Content-Length is
# announced, half the bytes are sent, then the connection closes; error: 500; flaky: 503 to the
# first GET only; slow: the file in 16 KiB pieces SLOW_DELAY apart; stall: half the bytes, then
# silence for STALL seconds.
MODES = ("corrupt", "cut", "error", "flaky", "slow", "stall")
SLOW_PIECE = 16 * 1024
SLOW_DELAY = 0.05
STALL = 30.0


@dataclass
class StaticUpstream:
    root: Path
    port: int = 0
    modes: dict[str, str] = field(default_factory=dict)
    # Project name -> "error" (its /simple/<name>/ answers 500).
    page_modes: dict[str, str] = field(default_factory=dict)
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Bytes of each file written so far in "slow" mode (to see a download overlap the fetch).
    sent: Counter[str] = field(default_factory=Counter)
    # The Authorization header of the last request for each path (None: none sent).
    authorization: dict[str, str | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (username, password) every request must carry as HTTP basic auth; None: open.
    credentials: tuple[str, str] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The simple root."""
        return f"{self.base}/simple/"

    def file_url(self, filename: str) -> str:
        return f"{self.base}/files/{filename}"

    def set_mode(self, filename: str, mode: str | None) -> None:
        if mode is not None and mode not in MODES:
            raise ValueError(mode)
        with self.lock:
            if mode is None:
                self.modes.pop(filename, None)
            else:
                self.modes[filename] = mode

    def set_page_mode(self, name: str, mode: str | None) -> None:
        """``"error"``: /simple/<name>/ answers 500; None: served again."""
        with self.lock:
            if mode is None:
                self.page_modes.pop(name, None)
            else:
                self.page_modes[name] = mode

    def page_gets(self, name: str) -> int:
        """How many times /simple/<name>/ was asked for."""
        with self.lock:
            return self.requests[("GET", f"/simple/{name}/")]

    def edit_page(self, name: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Change /simple/<name>/'s JSON document in place (yank a file, set
        ``project-status``, drop files …); the HTML page is rewritten from it."""
        page = self.root / "simple" / name
        doc: dict[str, Any] = json.loads((page / "index.json").read_text())
        edit(doc)
        (page / "index.json").write_text(json.dumps(doc))
        (page / "index.html").write_text(_html_page(doc))
        return doc

    def remove_project(self, name: str) -> None:
        """/simple/<name>/ answers 404 from now on."""
        page = self.root / "simple" / name
        for child in page.iterdir():
            child.unlink()
        page.rmdir()
        self._write_root()

    def gets(self, filename: str) -> int:
        with self.lock:
            return self.requests[("GET", f"/files/{filename}")]

    def add_file(self, filename: str, data: bytes) -> str:
        """Store a file under /files/; returns its sha256."""
        path = self.root / "files" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def add_project(
        self,
        name: str,
        files: list[tuple[str, bytes]],
        *,
        upload_time: dt.datetime | None = None,
        metadata: dict[str, bytes] | None = None,
    ) -> dict[str, Any]:
        """Write /simple/<name>/ (JSON and HTML) listing ``files`` (stored under /files/).

        ``metadata`` maps a filename to its PEP 658 sidecar's bytes (served at url +
        ".metadata" and announced with its sha256)."""
        when = (upload_time or dt.datetime(2020, 1, 1, tzinfo=dt.UTC)).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        entries = []
        for filename, data in files:
            entry: dict[str, Any] = {
                "filename": filename,
                "url": f"../../files/{filename}",
                "hashes": {"sha256": self.add_file(filename, data)},
                "size": len(data),
                "upload-time": when,
            }
            if metadata and filename in metadata:
                meta_sha = self.add_file(filename + ".metadata", metadata[filename])
                entry["core-metadata"] = {"sha256": meta_sha}
            entries.append(entry)
        versions = sorted({f.split("-")[1] for f, _ in files})
        doc = {
            "meta": {"api-version": "1.1"},
            "name": name,
            "versions": versions,
            "files": entries,
        }
        page = self.root / "simple" / name
        page.mkdir(parents=True, exist_ok=True)
        (page / "index.json").write_text(json.dumps(doc))
        (page / "index.html").write_text(_html_page(doc))
        self._write_root()
        return doc

    def _write_root(self) -> None:
        names = sorted(p.name for p in (self.root / "simple").iterdir() if p.is_dir())
        doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
        (self.root / "simple" / "index.json").write_text(json.dumps(doc))
        links = "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
        (self.root / "simple" / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, root: Path, *, credentials: tuple[str, str] | None = None
    ) -> Iterator[StaticUpstream]:
        root.mkdir(parents=True, exist_ok=True)
        (root / "simple").mkdir(exist_ok=True)
        up = cls(root, credentials=credentials)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(up))
        server.daemon_threads = True
        up.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield up
        finally:
            server.shutdown()
            server.server_close()


def _html_page(doc: dict[str, Any]) -> str:
    """The PEP 503 form of a PEP 691 project document (yanked, requires-python, metadata and
    project-status carried over)."""
    links = []
    for e in doc["files"]:
        attrs = f'href="{html.escape(e["url"])}#sha256={e["hashes"]["sha256"]}"'
        if e.get("yanked"):
            reason = e["yanked"] if isinstance(e["yanked"], str) else ""
            attrs += f' data-yanked="{html.escape(reason)}"'
        if e.get("requires-python"):
            attrs += f' data-requires-python="{html.escape(e["requires-python"])}"'
        if isinstance(e.get("core-metadata"), dict):
            attrs += f' data-core-metadata="sha256={e["core-metadata"]["sha256"]}"'
        links.append(f"<a {attrs}>{html.escape(e['filename'])}</a>\n")
    head = ""
    status = doc.get("project-status")
    if isinstance(status, dict) and status.get("status"):
        head = f'<meta name="pypi:project-status" content="{html.escape(status["status"])}">'
    return f"<!DOCTYPE html><html><head>{head}</head><body>\n{''.join(links)}</body></html>\n"


def _handler(up: StaticUpstream) -> type[SimpleHTTPRequestHandler]:
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(up.root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            with up.lock:
                up.requests[("GET", path)] += 1
                up.authorization[path] = self.headers.get("Authorization")
                mode = up.modes.get(path.rsplit("/", 1)[-1]) if path.startswith("/files/") else None
            if up.credentials is not None:
                user, password = up.credentials
                token = base64.b64encode(f"{user}:{password}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {token}":
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="upstream"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            if path.startswith("/simple/") and path.endswith("/"):
                with up.lock:
                    page_mode = up.page_modes.get(path.strip("/").rsplit("/", 1)[-1])
                if page_mode == "error":
                    self.send_error(500, "upstream trouble")
                    return
                self._page(path)
                return
            if mode is None:
                super().do_GET()
                return
            if mode == "error" or (mode == "flaky" and up.requests[("GET", path)] == 1):
                self.send_error(500 if mode == "error" else 503, "upstream trouble")
                return
            if mode == "flaky":
                super().do_GET()
                return
            data = (up.root / path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            half = len(data) // 2
            try:
                if mode == "corrupt":
                    flipped = bytes([data[half] ^ 0xFF])
                    self.wfile.write(data[:half] + flipped + data[half + 1 :])
                elif mode == "cut":
                    self.wfile.write(data[:half])
                    self.wfile.flush()
                    self.close_connection = True
                elif mode == "stall":
                    self.wfile.write(data[:half])
                    self.wfile.flush()
                    time.sleep(STALL)
                elif mode == "slow":
                    for i in range(0, len(data), SLOW_PIECE):
                        self.wfile.write(data[i : i + SLOW_PIECE])
                        self.wfile.flush()
                        with up.lock:
                            up.sent[path.rsplit("/", 1)[-1]] += len(data[i : i + SLOW_PIECE])
                        time.sleep(SLOW_DELAY)
            except (BrokenPipeError, ConnectionResetError):
                return

        def _page(self, path: str) -> None:
            folder = up.root / path.strip("/")
            wants_json = JSON_TYPE in self.headers.get("Accept", "")
            page = folder / ("index.json" if wants_json else "index.html")
            if not page.is_file():
                self.send_error(404)
                return
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", JSON_TYPE if wants_json else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def index_upstream_file(
    db: Database,
    up: StaticUpstream,
    filename: str,
    data: bytes,
    *,
    metadata_sha256: str | None = None,
    declared_size: int | None = -1,
    auth: tuple[str, str] | None = None,
    file_host: str = "127.0.0.1",
) -> str:
    """Index rows for one upstream file, as the mirror's sync writes them (project without
    owners, release, file row with empty md5/blake2, a published ``MirrorFile``), and the
    project's pages rendered; returns the file's ``/packages/…`` path.

    ``declared_size``: the size upstream announces (-1: the real one; None: none).
    ``file_host``: the host name in the file's URL (another name for loopback is another
    origin than the upstream's)."""
    info = parse_filename(filename)
    sha256 = hashlib.sha256(data).hexdigest()
    size = len(data) if declared_size == -1 else declared_size
    with db.write() as session:
        upstream = session.scalars(
            select(MirrorUpstream).where(MirrorUpstream.url == up.url)
        ).first()
        if upstream is None:
            upstream = MirrorUpstream(
                name=f"up{up.port}",
                url=up.url,
                username=auth[0] if auth else None,
                password=auth[1] if auth else None,
            )
            session.add(upstream)
            session.flush()
        project = session.scalars(
            select(Project).where(Project.normalized_name == info.normalized_name)
        ).first()
        if project is None:
            project = Project(name=info.name, normalized_name=info.normalized_name)
            session.add(project)
            session.flush()
            session.add(
                MirrorProject(
                    upstream_id=upstream.id,
                    normalized_name=info.normalized_name,
                    project_id=project.id,
                    fetched_at=utcnow(),
                )
            )
            session.flush()
        mirror_project = session.scalars(
            select(MirrorProject).where(MirrorProject.project_id == project.id)
        ).one()
        version = str(info.version)
        release = session.scalars(
            select(Release).where(Release.project_id == project.id, Release.version == version)
        ).first()
        if release is None:
            release = Release(project_id=project.id, version=version, canonical_version=version)
            session.add(release)
            session.flush()
        row = File(
            release_id=release.id,
            project_id=project.id,
            filename=filename,
            packagetype=info.packagetype,
            python_version=info.python_version,
            size=size or 0,
            sha256_digest=sha256,
            blake2_256_digest="",
            md5_digest="",
            metadata_sha256=metadata_sha256,
            upload_time=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        )
        session.add(row)
        session.flush()
        session.add(
            MirrorFile(
                upstream_id=upstream.id,
                mirror_project_id=mirror_project.id,
                filename=filename,
                version=version,
                url=up.file_url(filename).replace("127.0.0.1", file_host, 1),
                sha256=sha256,
                size=size,
                upload_time=row.upload_time,
                core_metadata_sha256=metadata_sha256,
                state=FILE_PUBLISHED,
                file_id=row.id,
            )
        )
        journal(session, project, "add file", version=version, user_id=None)
        rerender(session, project)
    return file_path(sha256, filename)
