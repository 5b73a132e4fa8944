"""Upstream files through the mirror: fetched on first download, streamed while stored,
verified before the last bytes go out; hostile upstreams never give a client a complete wrong
file and never leave anything stored."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from stockade.index.models import File
from stockade.index.paths import blob_key
from stockade.mirror.fetch import UpstreamFailed
from stockade.mirror.models import MirrorFile
from support.builders import metadata_text, wheel_bytes, wheel_name
from support.index import Index
from support.mirror_upstream import StaticUpstream, index_upstream_file

JSON = "application/vnd.pypi.simple.v1+json"
BIG = 1024 * 1024  # well past the fetcher's held-back tail


@pytest.fixture
def up(tmp_path: Path) -> Iterator[StaticUpstream]:
    with StaticUpstream.start(tmp_path / "upstream") as upstream:
        yield upstream


def _blob(size: int, seed: bytes = b"x") -> bytes:
    """Incompressible bytes (a hash chain), so ``size`` means what it says."""
    out = bytearray()
    block = seed
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


def _serve(
    index: Index,
    up: StaticUpstream,
    filename: str,
    data: bytes,
    *,
    metadata: bytes | None = None,
    declared_size: int | None = -1,
) -> str:
    """``filename`` on the upstream (its page too) and in the index, as after a sync."""
    name = filename.split("-")[0]
    up.add_project(name, [(filename, data)], metadata={filename: metadata} if metadata else None)
    meta_sha = hashlib.sha256(metadata).hexdigest() if metadata else None
    return index_upstream_file(
        index.db, up, filename, data, metadata_sha256=meta_sha, declared_size=declared_size
    )


def _read_all(index: Index, path: str) -> bytes:
    """The whole body of a GET; the app's error when the transfer breaks off."""
    with index.client.stream("GET", path) as r:
        assert r.status_code == 200
        return b"".join(r.iter_bytes())


def _cached(index: Index, filename: str) -> bool:
    with index.db.read() as session:
        return bool(
            session.scalars(select(MirrorFile.cached).where(MirrorFile.filename == filename)).one()
        )


def _stored(index: Index, data: bytes) -> bool:
    return index.app.context.storage.exists(blob_key(hashlib.sha256(data).hexdigest()))


def test_first_download_is_fetched_stored_and_marked(index: Index, up: StaticUpstream) -> None:
    data = _blob(BIG + 12345)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    r = index.client.get(path)
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert up.gets("demo-1.0.tar.gz") == 1
    assert _stored(index, data)
    assert _cached(index, "demo-1.0.tar.gz")
    with index.db.read() as session:
        row = session.scalars(select(File).where(File.filename == "demo-1.0.tar.gz")).one()
        assert row.md5_digest == hashlib.md5(data, usedforsecurity=False).hexdigest()
        assert row.blake2_256_digest == hashlib.blake2b(data, digest_size=32).hexdigest()
    # From storage now: the upstream is not asked again, even when it is down.
    up.set_mode("demo-1.0.tar.gz", "error")
    again = index.client.get(path)
    assert again.content == data
    assert up.gets("demo-1.0.tar.gz") == 1
    ranged = index.client.get(path, headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206
    assert ranged.content == data[100:200]


def test_small_file_not_matching_its_sha256_is_a_502_and_not_stored(
    index: Index, up: StaticUpstream
) -> None:
    data = _blob(5000)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    up.set_mode("demo-1.0.tar.gz", "corrupt")
    r = index.client.get(path)
    assert r.status_code == 502
    assert "sha256" in r.text
    assert not _stored(index, data)
    assert not _cached(index, "demo-1.0.tar.gz")
    up.set_mode("demo-1.0.tar.gz", None)
    assert index.client.get(path).content == data
    assert _stored(index, data)


@pytest.mark.parametrize("mode", ["corrupt", "cut"])
def test_big_file_broken_upstream_breaks_the_transfer(
    index: Index, up: StaticUpstream, mode: str
) -> None:
    """Past the first bytes the response has started: it is broken off, never completed."""
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    up.set_mode("demo-1.0.tar.gz", mode)
    with pytest.raises(UpstreamFailed):
        _read_all(index, path)
    assert not _stored(index, data)
    assert not _cached(index, "demo-1.0.tar.gz")
    assert not list((index.settings.tmp_dir / "mirror").iterdir())  # no spool file left
    # Once the upstream is right again, the next request fetches it afresh.
    up.set_mode("demo-1.0.tar.gz", None)
    assert index.client.get(path).content == data
    assert up.gets("demo-1.0.tar.gz") == 2


def test_upstream_500_is_a_502(index: Index, up: StaticUpstream) -> None:
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    up.set_mode("demo-1.0.tar.gz", "error")
    r = index.client.get(path)
    assert r.status_code == 502
    assert r.text == "Bad Gateway: the upstream answered 500"
    assert up.gets("demo-1.0.tar.gz") == 3  # asked again twice, after a pause
    assert not _stored(index, data)


def test_upstream_sending_more_than_declared_is_cut(index: Index, up: StaticUpstream) -> None:
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data, declared_size=BIG // 2)
    r = index.client.get(path)
    assert r.status_code == 502
    assert "declared" in r.text
    assert not _stored(index, data)


def test_file_over_the_size_limit_is_refused(index: Index, up: StaticUpstream) -> None:
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data, declared_size=None)
    fetcher = index.app.files.fetcher
    assert fetcher is not None
    fetcher.max_bytes = BIG // 4
    r = index.client.get(path)
    assert r.status_code == 502
    assert "limit" in r.text
    assert not _stored(index, data)


def test_stalled_upstream_times_out(index: Index, up: StaticUpstream) -> None:
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    fetcher = index.app.files.fetcher
    assert fetcher is not None
    fetcher.timeout = 1.0
    up.set_mode("demo-1.0.tar.gz", "stall")
    with pytest.raises(UpstreamFailed, match="timed out"):
        _read_all(index, path)
    assert not _stored(index, data)


def test_head_answers_from_the_declared_size_without_fetching(
    index: Index, up: StaticUpstream
) -> None:
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    r = index.client.head(path)
    assert r.status_code == 200
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-type"] == "application/gzip"
    assert "accept-ranges" not in r.headers  # not before it is cached
    assert up.gets("demo-1.0.tar.gz") == 0
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    assert index.client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert up.gets("demo-1.0.tar.gz") == 0


def test_range_on_an_uncached_file_fetches_it_first(index: Index, up: StaticUpstream) -> None:
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    r = index.client.get(path, headers={"Range": "bytes=-1000"})
    assert r.status_code == 206
    assert r.content == data[-1000:]
    assert r.headers["content-range"] == f"bytes {len(data) - 1000}-{len(data) - 1}/{len(data)}"
    assert _stored(index, data)
    assert up.gets("demo-1.0.tar.gz") == 1


def test_upstream_metadata_is_fetched_and_verified(index: Index, up: StaticUpstream) -> None:
    whl = wheel_bytes("demo", "1.0")
    name = wheel_name("demo", "1.0")
    meta = metadata_text("demo", "1.0").encode()
    path = _serve(index, up, name, whl, metadata=meta)
    r = index.client.get(path + ".metadata")
    assert r.status_code == 200
    assert r.content == meta
    with index.db.read() as session:
        row = session.scalars(select(MirrorFile).where(MirrorFile.filename == name)).one()
        assert row.metadata_cached and not row.cached
    # A sidecar that does not match its announced hash is refused, and not kept.
    other = wheel_name("other", "1.0")
    other_meta = metadata_text("other", "1.0").encode()
    bad = _serve(index, up, other, wheel_bytes("other", "1.0"), metadata=other_meta)
    up.add_file(other + ".metadata", other_meta + b"Summary: tampered\n")
    bad_sha = hashlib.sha256(other_meta).hexdigest()
    r = index.client.get(bad + ".metadata")
    assert r.status_code == 502
    assert not index.app.context.storage.exists(blob_key(bad_sha))


def test_metadata_is_read_from_the_wheel_when_upstream_has_none(
    index: Index, up: StaticUpstream
) -> None:
    whl = wheel_bytes("demo", "1.0")
    name = wheel_name("demo", "1.0")
    path = _serve(index, up, name, whl)
    [entry] = index.client.get("/simple/demo/", headers={"Accept": JSON}).json()["files"]
    assert entry.get("core-metadata", False) is False
    assert index.client.get(path + ".metadata").status_code == 404
    assert index.client.get(path).content == whl
    [entry] = index.client.get("/simple/demo/", headers={"Accept": JSON}).json()["files"]
    meta = index.client.get(path + ".metadata")
    assert meta.status_code == 200
    assert meta.content.startswith(b"Metadata-Version:")
    assert b"Name: demo" in meta.content
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(meta.content).hexdigest()}


def test_quarantined_or_unknown_stays_404(index: Index, up: StaticUpstream) -> None:
    data = _blob(3000)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    assert index.client.get(path.replace("demo-1.0", "demo-2.0")).status_code == 404
    assert up.gets("demo-1.0.tar.gz") == 0


def test_slow_upstream_is_streamed_while_it_arrives(index: Index, up: StaticUpstream) -> None:
    """The client's first bytes come while the upstream is still sending (no wait for the
    whole file), and the slow download completes."""
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    up.set_mode("demo-1.0.tar.gz", "slow")
    with index.live() as url, httpx.stream("GET", url + path, timeout=60) as r:
        assert r.status_code == 200
        chunks = r.iter_bytes()
        first = next(chunks)
        with up.lock:
            sent_then = up.sent["demo-1.0.tar.gz"]
        assert sent_then < len(data)
        body = first + b"".join(chunks)
    assert body == data
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()


def test_spool_files_are_cleaned_up(index: Index, up: StaticUpstream) -> None:
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    assert index.client.get(path).content == data
    assert os.listdir(index.settings.tmp_dir / "mirror") == []


def test_upstream_failing_before_the_first_byte_is_asked_again(
    index: Index, up: StaticUpstream
) -> None:
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    up.set_mode("demo-1.0.tar.gz", "flaky")
    r = index.client.get(path)
    assert r.status_code == 200
    assert r.content == data
    assert up.gets("demo-1.0.tar.gz") == 2


def test_a_client_leaving_half_way_does_not_stop_the_fetch(
    index: Index, up: StaticUpstream
) -> None:
    data = _blob(BIG)
    path = _serve(index, up, "demo-1.0.tar.gz", data)
    up.set_mode("demo-1.0.tar.gz", "slow")
    with index.live() as url:
        with httpx.stream("GET", url + path, timeout=60) as r:
            next(r.iter_bytes())  # then hang up
        deadline = time.monotonic() + 60
        while not _cached(index, "demo-1.0.tar.gz"):
            assert time.monotonic() < deadline, "the fetch stopped with its first client"
            time.sleep(0.1)
        assert httpx.get(url + path, timeout=60).content == data
    assert up.gets("demo-1.0.tar.gz") == 1


def test_spool_files_left_by_a_killed_worker_are_swept(index: Index, up: StaticUpstream) -> None:
    spool = index.settings.tmp_dir / "mirror"
    spool.mkdir(parents=True, exist_ok=True)
    stale, fresh = spool / f"{'0' * 64}.dead.part", spool / f"{'1' * 64}.live.part"
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y" * 1000)
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    data = _blob(3000)
    assert index.client.get(_serve(index, up, "demo-1.0.tar.gz", data)).content == data
    assert not stale.exists()
    assert fresh.exists()


def test_credentials_go_only_to_the_upstreams_own_host(index: Index, up: StaticUpstream) -> None:
    """A page listing a file on another host does not get our upstream credentials sent there
    (as pip keeps credentials to their host)."""
    data = _blob(3000)
    up.add_project("demo", [("demo-1.0.tar.gz", data), ("demo-2.0.tar.gz", data[::-1])])
    creds = ("mirror", "s3cret")
    same = index_upstream_file(index.db, up, "demo-1.0.tar.gz", data, auth=creds)
    other = index_upstream_file(
        index.db, up, "demo-2.0.tar.gz", data[::-1], auth=creds, file_host="localhost"
    )
    assert index.client.get(same).content == data
    assert index.client.get(other).content == data[::-1]
    sent = up.authorization
    assert sent["/files/demo-1.0.tar.gz"] == "Basic " + base64.b64encode(b"mirror:s3cret").decode()
    assert sent["/files/demo-2.0.tar.gz"] is None


def test_metadata_sidecar_is_bounded(index: Index, up: StaticUpstream) -> None:
    whl = wheel_bytes("demo", "1.0")
    name = wheel_name("demo", "1.0")
    huge = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n" + b"#" * (101 * 1024 * 1024)
    path = _serve(index, up, name, whl, metadata=huge)
    r = index.client.get(path + ".metadata")
    assert r.status_code == 502
    assert "limit" in r.text
    assert not index.app.context.storage.exists(blob_key(hashlib.sha256(huge).hexdigest()))
