"""Two workers' fetchers (two ``BlobFetcher``s with their own locks, as two processes have)
asking for one uncached file: one upstream fetch; the loser follows the winner's spool file
when they share the data folder, and waits for the stored blob when they do not."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from stockade.config import Settings
from stockade.db import Database
from stockade.index.paths import blob_key
from stockade.mirror.fetch import BlobFetcher, UpstreamBlob, UpstreamFailed
from stockade.mirror.fetchlock import fetch_locks_for
from stockade.storage import BlobStorage, open_storage
from support.mirror_upstream import StaticUpstream

SIZE = 2 * 1024 * 1024 + 99


@pytest.fixture
def up(tmp_path: Path) -> Iterator[StaticUpstream]:
    with StaticUpstream.start(tmp_path / "upstream") as upstream:
        yield upstream


@pytest.fixture
def storage(settings: Settings) -> Iterator[BlobStorage]:
    store = open_storage(settings.storage_url)
    yield store
    store.close()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    yield database
    database.dispose()


def _fetcher(storage: BlobStorage, db: Database, tmp: Path, locks: Path) -> BlobFetcher:
    return BlobFetcher(storage, fetch_locks_for(db, locks), tmp_dir=tmp, max_bytes=SIZE * 2)


def _race(
    up: StaticUpstream, a: BlobFetcher, b: BlobFetcher, blob: UpstreamBlob
) -> tuple[bytes | BaseException, bytes | BaseException, int]:
    """A starts; once the upstream has sent some bytes, B asks too. Returns both bodies (or
    their errors) and how much the upstream had sent when B's first bytes came."""
    results: dict[str, bytes | BaseException] = {}
    sent_at_b: list[int] = []

    async def read(name: str, fetcher: BlobFetcher) -> None:
        out = bytearray()
        try:
            async for chunk in fetcher.stream(blob):
                if name == "b" and not out:
                    with up.lock:
                        sent_at_b.append(up.sent[blob.url.rsplit("/", 1)[1]])
                out += chunk
            results[name] = bytes(out)
        except UpstreamFailed as exc:
            results[name] = exc

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read, "a", a)
            with anyio.fail_after(30):
                while not up.sent:
                    await anyio.sleep(0.02)
            tg.start_soon(read, "b", b)
        await a.aclose()
        await b.aclose()

    anyio.run(main)
    return results["a"], results["b"], sent_at_b[0] if sent_at_b else -1


def _blob(up: StaticUpstream, data: bytes) -> UpstreamBlob:
    sha = up.add_file("big-1.0.tar.gz", data)
    up.set_mode("big-1.0.tar.gz", "slow")
    return UpstreamBlob(up.file_url("big-1.0.tar.gz"), sha, len(data), None, blob_key(sha))


def test_loser_follows_the_winners_spool(
    tmp_path: Path, up: StaticUpstream, storage: BlobStorage, db: Database
) -> None:
    data = os.urandom(SIZE)
    blob = _blob(up, data)
    tmp, locks = tmp_path / "tmp", tmp_path / "locks"
    a, b = _fetcher(storage, db, tmp, locks), _fetcher(storage, db, tmp, locks)
    body_a, body_b, sent_at_b = _race(up, a, b, blob)
    assert body_a == data
    assert body_b == data
    assert 0 < sent_at_b < SIZE  # B's client had bytes while the upstream was still sending
    assert up.gets("big-1.0.tar.gz") == 1
    assert storage.exists(blob.blob_key)
    assert os.listdir(tmp / "mirror") == []


def test_loser_on_another_machine_waits_for_the_stored_blob(
    tmp_path: Path, up: StaticUpstream, storage: BlobStorage, db: Database
) -> None:
    data = os.urandom(SIZE)
    blob = _blob(up, data)
    locks = tmp_path / "locks"
    a = _fetcher(storage, db, tmp_path / "tmp-a", locks)
    b = _fetcher(storage, db, tmp_path / "tmp-b", locks)
    body_a, body_b, sent_at_b = _race(up, a, b, blob)
    assert body_a == data
    assert body_b == data
    assert sent_at_b == SIZE  # nothing before the blob was stored: read from storage
    assert up.gets("big-1.0.tar.gz") == 1


def test_loser_following_a_failed_fetch_fails_too(
    tmp_path: Path, up: StaticUpstream, storage: BlobStorage, db: Database
) -> None:
    data = os.urandom(SIZE)
    blob = _blob(up, data)
    # The upstream's bytes are wrong: the winner's check fails, nothing is stored, and the
    # loser, which followed part of them, breaks off too (it never completes a wrong file).
    wrong = bytearray(data)
    wrong[SIZE // 2] ^= 0xFF
    up.add_file("big-1.0.tar.gz", bytes(wrong))
    tmp, locks = tmp_path / "tmp", tmp_path / "locks"
    a, b = _fetcher(storage, db, tmp, locks), _fetcher(storage, db, tmp, locks)
    body_a, body_b, _ = _race(up, a, b, blob)
    assert isinstance(body_a, UpstreamFailed)
    assert isinstance(body_b, UpstreamFailed)
    assert not storage.exists(blob.blob_key)
    assert hashlib.sha256(bytes(wrong)).hexdigest() != blob.sha256
