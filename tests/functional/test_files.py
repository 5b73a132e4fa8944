"""Serving files: types, ranges (how pip and uv read wheel metadata), caching headers."""

from __future__ import annotations

import hashlib

import pytest

from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def files(index: Index) -> dict[str, tuple[str, bytes]]:
    whl = wheel_bytes("demo", "1.0", files={"demo/data.bin": bytes(range(256)) * 64})
    sd = sdist_bytes("demo", "1.0")
    assert index.upload(whl, wheel_name("demo", "1.0")).status_code == 200
    assert index.upload(sd, sdist_name("demo", "1.0")).status_code == 200
    doc = index.client.get("/simple/demo/", headers={"Accept": JSON}).json()
    urls = {f["filename"]: f["url"].replace("../..", "") for f in doc["files"]}
    return {
        "whl": (urls[wheel_name("demo", "1.0")], whl),
        "sdist": (urls[sdist_name("demo", "1.0")], sd),
    }


def test_full_download_headers(index: Index, files: dict[str, tuple[str, bytes]]) -> None:
    url, data = files["whl"]
    r = index.client.get(url)
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == "application/zip"
    assert "immutable" in r.headers["cache-control"]
    assert r.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert r.headers["accept-ranges"] == "bytes"
    url, data = files["sdist"]
    r = index.client.get(url)
    assert r.content == data
    assert r.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in r.headers


@pytest.mark.parametrize(
    ("range_header", "span"),
    [
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, None)),
        ("bytes=-300", (-300, None)),
        ("bytes=10-10", (10, 11)),
    ],
)
def test_range_reads(
    index: Index,
    files: dict[str, tuple[str, bytes]],
    range_header: str,
    span: tuple[int, int | None],
) -> None:
    url, data = files["whl"]
    r = index.client.get(url, headers={"Range": range_header})
    assert r.status_code == 206
    start, end = span
    assert r.content == data[start:end]
    assert r.headers["content-range"].startswith("bytes ")
    assert r.headers["content-range"].endswith(f"/{len(data)}")


def test_unsatisfiable_range(index: Index, files: dict[str, tuple[str, bytes]]) -> None:
    url, data = files["whl"]
    r = index.client.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
    assert r.status_code == 416


def test_wrong_hash_or_name_is_404(index: Index, files: dict[str, tuple[str, bytes]]) -> None:
    url, _ = files["whl"]
    parts = url.split("/")
    assert (
        index.client.get("/".join([*parts[:-1], "other-1.0-py3-none-any.whl"])).status_code == 404
    )
    bad = url.replace(parts[4], "0" * len(parts[4]))
    assert index.client.get(bad).status_code == 404
    assert index.client.get(files["sdist"][0] + ".metadata").status_code == 404
    assert index.client.get("/packages/zz/zz/nothex/x.whl").status_code == 404


def test_conditional_and_head(index: Index, files: dict[str, tuple[str, bytes]]) -> None:
    url, data = files["whl"]
    etag = index.client.get(url).headers["etag"]
    r = index.client.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    r = index.client.head(url)
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["content-length"]) == len(data)
    assert index.client.post(url).status_code == 405


def test_large_file_streams_in_chunks(index: Index) -> None:
    import random

    big = wheel_bytes("big", "1.0", files={"big/blob.bin": random.Random(3).randbytes(3_000_000)})
    assert index.upload(big, wheel_name("big", "1.0")).status_code == 200
    doc = index.client.get("/simple/big/", headers={"Accept": JSON}).json()
    url = doc["files"][0]["url"].replace("../..", "")
    assert index.client.get(url).content == big
    r = index.client.get(url, headers={"Range": "bytes=1000000-2000000"})
    assert r.status_code == 206
    assert r.content == big[1_000_000:2_000_001]


def test_files_of_a_quarantined_project_vanish_for_every_worker(
    index: Index, files: dict[str, tuple[str, bytes]]
) -> None:
    import time

    from sqlalchemy import select

    from stockade.index.models import Project
    from stockade.index.state import journal, rerender

    url, _ = files["whl"]
    assert index.client.get(url).status_code == 200  # now remembered by this worker
    with index.db.write() as s:
        project = s.scalar(select(Project))
        assert project is not None
        project.status = "quarantined"
        journal(s, project, "quarantine", version=None, user_id=None)
        rerender(s, project)
    deadline = time.monotonic() + 2
    while index.client.get(url).status_code != 404:
        assert time.monotonic() < deadline, "file still served after quarantine"
        time.sleep(0.05)
    assert index.client.get(url + ".metadata").status_code == 404


def test_a_lookup_racing_with_an_invalidation_is_not_remembered(
    index: Index, files: dict[str, tuple[str, bytes]]
) -> None:
    """The journal poller's forget() lands between a lookup's read and its remembering: the
    answer read before it must not be kept, or a file taken away meanwhile stays served."""
    from sqlalchemy import event, update

    from stockade.index.models import Project

    url, _ = files["whl"]
    files_app = index.app.files
    files_app.forget()
    fired: list[str] = []

    def forget_after_the_read(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not fired and "projects.status" in statement and "files.metadata_sha256" in statement:
            fired.append(statement)
            files_app.forget()  # as the poller would, for a change committed just now

    engine = index.db.engine
    event.listen(engine, "after_cursor_execute", forget_after_the_read)
    try:
        assert index.client.get(url).status_code == 200
    finally:
        event.remove(engine, "after_cursor_execute", forget_after_the_read)
    assert fired
    # The change the forget() stood for: the project is quarantined (no journal here, so this
    # worker is told nothing more).
    with index.db.write() as s:
        s.execute(update(Project).values(status="quarantined"))
    assert index.client.get(url).status_code == 404
