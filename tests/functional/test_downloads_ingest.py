"""`stockade stats ingest`: a realistic nginx log and a JSON-lines log are counted right, per
project, type and day, and a file is counted once however often it is ingested."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

from sqlalchemy import select

from stockade.index.models import Project
from stockade.stats.ingest import ingest_log, parse_line
from stockade.stats.models import DownloadCount, DownloadTotal, IngestedLog
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index, run_cli

JSON = "application/vnd.pypi.simple.v1+json"
PIP = '"pip/24.3.1 {\\"ci\\":null,\\"cpu\\":\\"x86_64\\",\\"python\\":\\"3.12.3\\"}"'


def publish(index: Index) -> dict[str, str]:
    assert index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")).status_code == 200
    assert index.upload(sdist_bytes("demo", "1.0"), sdist_name("demo", "1.0")).status_code == 200
    assert index.upload(wheel_bytes("other", "2.0"), wheel_name("other", "2.0")).status_code == 200
    urls = {}
    for name in ("demo", "other"):
        doc = index.client.get(f"/simple/{name}/", headers={"Accept": JSON}).json()
        urls.update({f["filename"]: f["url"].replace("../..", "") for f in doc["files"]})
    return {
        "demo_whl": urls[wheel_name("demo", "1.0")],
        "demo_sdist": urls[sdist_name("demo", "1.0")],
        "other_whl": urls[wheel_name("other", "2.0")],
    }


def line(ip: str, when: str, request: str, status: int, size: int = 1234, agent: str = PIP) -> str:
    return f'{ip} - - [{when}] "{request}" {status} {size} "-" {agent}\n'


def nginx_log(urls: dict[str, str]) -> str:
    whl, sdist, other = urls["demo_whl"], urls["demo_sdist"], urls["other_whl"]
    unknown = "/packages/00/11/" + "2" * 60 + "/ghost-1.0-py3-none-any.whl"
    return "".join(
        [
            # 2026-11-20: demo wheel x2 (one with a query string), demo sdist x1, other x1.
            line("10.0.0.1", "20/Nov/2026:08:00:01 +0000", "GET /simple/demo/ HTTP/1.1", 200),
            line("10.0.0.1", "20/Nov/2026:08:00:02 +0000", f"GET {whl}.metadata HTTP/1.1", 200),
            line("10.0.0.1", "20/Nov/2026:08:00:03 +0000", f"GET {whl} HTTP/1.1", 200),
            line("10.0.0.2", "20/Nov/2026:09:10:00 +0000", f"GET {whl}?x=1 HTTP/2.0", 200),
            line("10.0.0.3", "20/Nov/2026:10:00:00 +0000", f"GET {sdist} HTTP/1.1", 200),
            line("10.0.0.4", "20/Nov/2026:11:00:00 +0000", f"GET {other} HTTP/1.1", 200),
            # Not downloads: range reads, HEAD, revalidation, errors, other paths.
            line("10.0.0.5", "20/Nov/2026:12:00:00 +0000", f"GET {whl} HTTP/1.1", 206, 99),
            line("10.0.0.5", "20/Nov/2026:12:00:01 +0000", f"HEAD {whl} HTTP/1.1", 200, 0),
            line("10.0.0.5", "20/Nov/2026:12:00:02 +0000", f"GET {sdist} HTTP/1.1", 304, 0),
            line("10.0.0.5", "20/Nov/2026:12:00:03 +0000", f"GET {whl} HTTP/1.1", 404, 9),
            line("10.0.0.5", "20/Nov/2026:12:00:04 +0000", "POST /legacy/ HTTP/1.1", 200, 3),
            line("10.0.0.6", "20/Nov/2026:12:00:05 +0000", "GET /packages/../etc HTTP/1.1", 200),
            # A file this index does not know.
            line("10.0.0.7", "20/Nov/2026:12:30:00 +0000", f"GET {unknown} HTTP/1.1", 200),
            # Local time: 23:30 at +02:00 on the 21st is 21:30 UTC on the 21st;
            # 00:30 at +02:00 on the 22nd is still the 21st in UTC.
            line("10.0.0.8", "21/Nov/2026:23:30:00 +0200", f"GET {whl} HTTP/1.1", 200),
            line("10.0.0.8", "22/Nov/2026:00:30:00 +0200", f"GET {whl} HTTP/1.1", 200),
            line("10.0.0.9", "22/Nov/2026:03:00:00 +0000", f"GET {sdist} HTTP/1.1", 200),
            "this is not a log line\n",
            "\n",
        ]
    )


def counts(index: Index) -> dict[tuple[str, str, str], int]:
    with index.db.read() as s:
        rows = s.execute(
            select(
                Project.name, DownloadCount.packagetype, DownloadCount.day, DownloadCount.count
            ).join(Project, Project.id == DownloadCount.project_id)
        ).all()
    return {(name, kind, day.isoformat()): n for name, kind, day, n in rows}


EXPECTED = {
    ("demo", "bdist_wheel", "2026-11-20"): 2,
    ("demo", "sdist", "2026-11-20"): 1,
    ("other", "bdist_wheel", "2026-11-20"): 1,
    ("demo", "bdist_wheel", "2026-11-21"): 2,
    ("demo", "sdist", "2026-11-22"): 1,
}


def test_nginx_log_counts_right_and_once(index: Index, tmp_path: Path) -> None:
    urls = publish(index)
    log = tmp_path / "access.log"
    log.write_text(nginx_log(urls))
    result = run_cli(index, "stats", "ingest", str(log), "--format", "nginx")
    assert result.returncode == 0, result.stderr
    assert counts(index) == EXPECTED
    assert "18 line(s), 7 download(s) counted" in result.stderr
    assert "1 download(s) of unknown files" in result.stderr
    assert "2026-11-21  2" in result.stdout

    again = run_cli(index, "stats", "ingest", str(log), "--format", "nginx")
    assert again.returncode == 0, again.stderr
    assert "already ingested: nothing changed" in again.stderr
    assert counts(index) == EXPECTED
    # A file is known by its content: a copy under another name is not counted again.
    copy = tmp_path / "copy.log"
    copy.write_bytes(log.read_bytes())
    assert ingest_log(index.db, copy, "nginx").already
    with index.db.read() as s:
        [logged] = s.scalars(select(IngestedLog)).all()
        assert logged.downloads == 7 and logged.log_format == "nginx"
        assert logged.size == log.stat().st_size
        totals = {t.project_id: t.window_total for t in s.scalars(select(DownloadTotal))}
    assert sorted(totals.values()) == [1, 6]


def test_json_lines_and_gzip(index: Index, tmp_path: Path) -> None:
    urls = publish(index)
    rows = [
        {"timestamp": "2026-11-20T10:00:00Z", "path": urls["demo_whl"], "status": 200},
        {"time": 1795219200, "url": "https://cdn.example" + urls["demo_whl"], "status_code": 200},
        {"timestamp": "2026-11-20T10:00:00Z", "path": urls["demo_whl"], "status": 206},
        {"timestamp": "2026-11-20T10:00:00Z", "path": urls["other_whl"], "status": "200"},
        {"timestamp": "2026-11-20T10:00:00Z", "path": urls["other_whl"], "method": "HEAD"},
        {"path": urls["other_whl"], "status": 200},
        [1, 2],
    ]
    log = tmp_path / "cdn.jsonl.gz"
    with gzip.open(log, "wt") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
        fh.write("{broken\n")
    result = ingest_log(index.db, log, "json")
    assert not result.already
    assert result.lines == 8 and result.downloads == 3 and result.skipped == 5
    day2 = dt.datetime.fromtimestamp(1795219200, dt.UTC).date().isoformat()
    assert counts(index) == {
        ("demo", "bdist_wheel", "2026-11-20"): 1,
        ("demo", "bdist_wheel", day2): 1,
        ("other", "bdist_wheel", "2026-11-20"): 1,
    }
    assert ingest_log(index.db, log, "json").already
    bad = run_cli(index, "stats", "ingest", str(log), "--format", "apache")
    assert bad.returncode == 2
    assert "unknown --format 'apache'" in bad.stderr


def test_parse_line_examples() -> None:
    sha = "ab" + "cd" + "e" * 60
    path = f"/packages/ab/cd/{'e' * 60}/demo-1.0.tar.gz"
    hit = parse_line(
        "nginx", line("::1", "01/Jan/2026:00:00:00 -0500", f"GET {path} HTTP/1.1", 200)
    )
    assert hit == (sha, "demo-1.0.tar.gz", dt.date(2026, 1, 1))
    assert (
        parse_line("nginx", line("::1", "01/Jan/2026:00:00:00 +0000", f"GET {path} HTTP/1.1", 206))
        is None
    )
    assert parse_line("nginx", 'x - - [nonsense] "GET / HTTP/1.1" 200 1 "-" "-"') is None
    assert parse_line(
        "json", json.dumps({"timestamp": "2026-01-01T00:00:00", "path": path, "status": 200})
    ) == (
        sha,
        "demo-1.0.tar.gz",
        dt.date(2026, 1, 1),
    )
