"""The blob storage contract: every backend must pass the same tests.

``local`` runs in a temporary directory; ``s3`` runs against a real ``weed mini`` (one per
session), each test in its own key prefix of a shared bucket.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stockade.storage import BlobNotFound, BlobStorage, LocalStorage, S3Storage, open_storage
from support.servers import SeaweedServer
from support.threads import ReportingThread

MiB = 1024 * 1024
KEY = "blobs/sha256/ab/cd/abcd1234"


@pytest.fixture(scope="session")
def shared_bucket(seaweed_server: SeaweedServer) -> str:
    return seaweed_server.make_bucket("contract-" + secrets.token_hex(4))


@pytest.fixture(params=["local", "s3"])
def storage(
    request: pytest.FixtureRequest, tmp_path: Path, shared_bucket: str
) -> Iterator[BlobStorage]:
    store: BlobStorage
    if request.param == "local":
        store = LocalStorage(tmp_path / "store")
    else:
        server: SeaweedServer = request.getfixturevalue("seaweed_server")
        store = open_storage(server.storage_url(shared_bucket, "t-" + secrets.token_hex(6)))
    try:
        yield store
    finally:
        store.close()


def write_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- round trips ----------------------------------------------------------------------------


def test_put_bytes_round_trip(storage: BlobStorage) -> None:
    storage.put_bytes(KEY, b"hello wheel")
    assert storage.exists(KEY)
    assert storage.get_bytes(KEY) == b"hello wheel"
    assert storage.size(KEY) == 11
    assert b"".join(storage.iter_range(KEY)) == b"hello wheel"


def test_put_file_round_trip_leaves_source_alone(storage: BlobStorage, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    source = write_file(tmp_path / "upload.whl", data)
    storage.put_file(KEY, source)
    assert storage.get_bytes(KEY) == data
    assert source.read_bytes() == data  # never moved
    source.write_bytes(b"the caller reuses its file")  # the blob is a copy, not a link
    assert storage.get_bytes(KEY) == data


def test_empty_blob(storage: BlobStorage) -> None:
    storage.put_bytes("empty", b"")
    assert storage.exists("empty")
    assert storage.size("empty") == 0
    assert storage.get_bytes("empty") == b""
    assert list(storage.iter_range("empty")) == []
    assert list(storage.iter_range("empty", 0, 10)) == []


def test_is_a_blob_storage(storage: BlobStorage) -> None:
    assert isinstance(storage, BlobStorage)


# -- idempotence and atomicity --------------------------------------------------------------


def test_re_put_is_a_no_op(storage: BlobStorage, tmp_path: Path) -> None:
    storage.put_bytes(KEY, b"first")
    storage.put_bytes(KEY, b"first")
    storage.put_file(KEY, write_file(tmp_path / "again", b"first"))
    # Keys are content-addressed: a second put never replaces what is there.
    storage.put_bytes(KEY, b"other bytes")
    storage.put_file(KEY, write_file(tmp_path / "other", b"other file"))
    assert storage.get_bytes(KEY) == b"first"
    assert list(storage.iter_keys()) == [KEY]


def test_failed_put_leaves_nothing(storage: BlobStorage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        storage.put_file(KEY, tmp_path / "missing")
    assert not storage.exists(KEY)
    assert list(storage.iter_keys()) == []


def test_listing_shows_no_temporary_objects(storage: BlobStorage, tmp_path: Path) -> None:
    keys = [f"blobs/{i:02x}/blob{i}" for i in range(5)]
    for i, key in enumerate(keys):
        if i % 2:
            storage.put_bytes(key, os.urandom(1000 + i))
        else:
            storage.put_file(key, write_file(tmp_path / f"f{i}", os.urandom(1000 + i)))
    assert sorted(storage.iter_keys()) == sorted(keys)


def test_concurrent_readers_never_see_a_partial_blob(storage: BlobStorage, tmp_path: Path) -> None:
    blobs = {f"race/{i}": os.urandom(3 * MiB + i) for i in range(6)}
    sources = {
        key: write_file(tmp_path / f"src{i}", data) for i, (key, data) in enumerate(blobs.items())
    }
    done, reading = threading.Event(), threading.Event()
    # The key being written, None between writes.
    writing: list[str | None] = [None]
    overlapped: list[str] = []
    problems: list[str] = []

    def read_loop() -> None:
        while not done.is_set():
            # The blob being written, when there is one: that read is the race under test.
            current = writing[0]
            for key in [current] if current else list(blobs):
                began_during_its_write = writing[0] == key
                try:
                    size = storage.size(key)
                    content = storage.get_bytes(key)
                except BlobNotFound:
                    continue
                finally:
                    reading.set()
                data = blobs[key]
                if size != len(data) or content != data:
                    problems.append(f"{key}: size {size}, {len(content)} bytes read")
                # Begun or ended while this very key was being written.
                if began_during_its_write or writing[0] == key:
                    overlapped.append(key)

    reader = ReportingThread(read_loop)
    reader.start()
    try:
        assert reading.wait(30)
        # Rewriting a key with the same bytes is a write like the first: a reader must see
        # either the whole old blob or the whole new one. Rewrite until reads overlapped
        # writes (a loaded machine may starve the reader for a while).
        deadline = time.monotonic() + 90
        while len(overlapped) < 3 and time.monotonic() < deadline:
            for key, source in sources.items():
                writing[0] = key
                storage.put_file(key, source)
                writing[0] = None
    finally:
        done.set()
        reader.result(60)
    assert problems == []
    assert len(overlapped) >= 3, f"reads overlapping the write of their blob: {overlapped}"
    for key, data in blobs.items():
        assert storage.get_bytes(key) == data


# -- size, ranges, missing keys -------------------------------------------------------------

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, None, DATA),
        (0, 10, DATA[:10]),
        (100, 200, DATA[100:200]),
        (10000, None, DATA[10000:]),  # suffix: start only
        (len(DATA) - 1, None, DATA[-1:]),
        (50, 50, b""),  # empty range
        (0, len(DATA) + 500, DATA),  # end past EOF is clipped
        (10000, 20000, DATA[10000:]),
        (len(DATA), None, b""),  # start at EOF
        (len(DATA) + 10, None, b""),  # start past EOF
        (len(DATA) + 10, len(DATA) + 20, b""),
    ],
)
def test_ranges(storage: BlobStorage, start: int, end: int | None, expected: bytes) -> None:
    storage.put_bytes(KEY, DATA)
    assert b"".join(storage.iter_range(KEY, start, end)) == expected


@pytest.mark.parametrize("chunk_size", [1, 7, 1000, 4096, 1 << 20])
def test_range_chunks_never_exceed_chunk_size(storage: BlobStorage, chunk_size: int) -> None:
    storage.put_bytes(KEY, DATA)
    chunks = list(storage.iter_range(KEY, 3, 9000, chunk_size=chunk_size))
    assert all(0 < len(c) <= chunk_size for c in chunks)
    assert b"".join(chunks) == DATA[3:9000]


@pytest.mark.parametrize(("start", "end", "chunk_size"), [(-1, None, 10), (5, 4, 10), (0, 5, 0)])
def test_bad_ranges_are_refused(
    storage: BlobStorage, start: int, end: int | None, chunk_size: int
) -> None:
    storage.put_bytes(KEY, DATA)
    with pytest.raises(ValueError, match=r"range|chunk_size"):
        storage.iter_range(KEY, start, end, chunk_size=chunk_size)


def test_missing_key(storage: BlobStorage) -> None:
    assert not storage.exists(KEY)
    with pytest.raises(BlobNotFound):
        storage.size(KEY)
    with pytest.raises(BlobNotFound):
        storage.get_bytes(KEY)
    # Raised by the call itself, before iteration, so a server can answer 404 up front.
    for start, end in [(0, None), (5, 10), (3, 3), (100, None)]:
        with pytest.raises(BlobNotFound):
            storage.iter_range(KEY, start, end)
    with pytest.raises(KeyError):  # BlobNotFound is a KeyError
        storage.get_bytes(KEY)


def test_a_key_prefix_is_not_a_blob(storage: BlobStorage) -> None:
    storage.put_bytes("dir/file", b"x")
    assert not storage.exists("dir")
    with pytest.raises(BlobNotFound):
        storage.get_bytes("dir")


def test_delete(storage: BlobStorage) -> None:
    storage.put_bytes(KEY, b"x")
    storage.put_bytes("keep/me", b"y")
    storage.delete(KEY)
    assert not storage.exists(KEY)
    with pytest.raises(BlobNotFound):
        storage.get_bytes(KEY)
    storage.delete(KEY)  # deleting again is fine
    storage.delete("never/existed")
    assert list(storage.iter_keys()) == ["keep/me"]
    storage.put_bytes(KEY, b"back")  # a deleted key can be written again
    assert storage.get_bytes(KEY) == b"back"


# -- listing --------------------------------------------------------------------------------


def test_iter_keys_with_prefix(storage: BlobStorage) -> None:
    keys = ["a/1", "a/2", "a/sub/3", "a-c", "ab/4", "b/5", "blobs/sha256/ab/cd/abcd"]
    for key in keys:
        storage.put_bytes(key, key.encode())

    def listed(prefix: str = "") -> list[str]:
        found = list(storage.iter_keys(prefix))
        assert len(found) == len(set(found))
        return sorted(found)  # order is not part of the contract (SeaweedFS lists by directory)

    assert listed() == sorted(keys)
    assert listed("a/") == ["a/1", "a/2", "a/sub/3"]
    assert listed("a") == ["a-c", "a/1", "a/2", "a/sub/3", "ab/4"]
    assert listed("a/s") == ["a/sub/3"]
    assert listed("blobs/sha256/ab/") == ["blobs/sha256/ab/cd/abcd"]
    assert listed("b/5") == ["b/5"]
    assert listed("zz") == []
    assert listed("nope/deeper/") == []


def test_local_lists_in_string_order(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    keys = ["a/1", "a-c", "a/sub/3", "ab/4", "a0"]
    for key in keys:
        store.put_bytes(key, b"x")
    assert list(store.iter_keys()) == sorted(keys)


# -- key validation -------------------------------------------------------------------------

BAD_KEYS = ["", "/abs", "/", "a/../b", "..", "../a", "a/..", "a//b", "a/", ".", "./a", "a/./b"]
BAD_KEYS += ["a\\b", "nul\x00byte"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_refused(storage: BlobStorage, key: str, tmp_path: Path) -> None:
    source = write_file(tmp_path / "f", b"x")
    calls: list[Callable[[], object]] = [
        lambda: storage.put_bytes(key, b"x"),
        lambda: storage.put_file(key, source),
        lambda: storage.exists(key),
        lambda: storage.size(key),
        lambda: storage.get_bytes(key),
        lambda: storage.iter_range(key),
        lambda: storage.delete(key),
        lambda: storage.local_path(key),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="blob key"):
            call()
    assert list(storage.iter_keys()) == []


@pytest.mark.parametrize("prefix", ["/", "/a", "a//", "../", "a/../b"])
def test_invalid_prefixes_are_refused(storage: BlobStorage, prefix: str) -> None:
    with pytest.raises(ValueError, match="blob key"):
        list(storage.iter_keys(prefix))


# -- large blobs ----------------------------------------------------------------------------


@pytest.mark.slow
def test_large_blob_streams_in_bounded_memory(storage: BlobStorage, tmp_path: Path) -> None:
    size = 50 * MiB
    source = tmp_path / "big.whl"
    digest = hashlib.sha256()
    with open(source, "wb") as out:
        block = os.urandom(MiB)
        for i in range(50):
            piece = i.to_bytes(4, "big") + block[4:]
            digest.update(piece)
            out.write(piece)
    storage.put_file(KEY, source)
    assert storage.size(KEY) == size

    chunk_size = 256 * 1024
    streamed = hashlib.sha256()
    total = 0
    tracemalloc.start()
    try:
        for chunk in storage.iter_range(KEY, chunk_size=chunk_size):
            assert len(chunk) <= chunk_size
            streamed.update(chunk)
            total += len(chunk)
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert streamed.hexdigest() == digest.hexdigest()
    assert peak < 4 * MiB, f"streaming 50 MiB peaked at {peak / MiB:.1f} MiB"

    tail = b"".join(storage.iter_range(KEY, size - 10 * MiB - 3, size - 3))
    with open(source, "rb") as f:
        f.seek(size - 10 * MiB - 3)
        assert tail == f.read(10 * MiB)


# -- backend specifics ----------------------------------------------------------------------


def test_local_path(storage: BlobStorage) -> None:
    storage.put_bytes(KEY, b"sendfile me")
    path = storage.local_path(KEY)
    if isinstance(storage, LocalStorage):
        assert path is not None
        assert path.read_bytes() == b"sendfile me"
        with pytest.raises(BlobNotFound):
            storage.local_path("missing/key")
    else:
        assert path is None


def test_local_layout_and_cheap_re_put(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    store.put_bytes(KEY, b"abc")
    path = tmp_path / "store" / KEY
    assert path.read_bytes() == b"abc"
    assert path.stat().st_mode & 0o777 == 0o600  # the owner's alone, like the database
    before = path.stat()
    store.put_bytes(KEY, b"abc")
    store.put_file(KEY, write_file(tmp_path / "same", b"abc"))
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert list((tmp_path / "store" / ".tmp").iterdir()) == []


def test_local_refuses_its_temp_dir_as_a_key(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    with pytest.raises(ValueError, match="reserved"):
        store.put_bytes(".tmp/x", b"x")


def test_local_write_interrupted_midway_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStorage(tmp_path / "store")
    source = write_file(tmp_path / "big", os.urandom(4 * MiB))

    real_sendfile = os.sendfile
    written = 0

    def send_half_then_fail(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        # The disk fills up after 2 MiB: the kernel's own ENOSPC, as a real disk gives it.
        nonlocal written
        if written >= 2 * MiB:
            raise OSError(errno.ENOSPC, "disk full")
        sent = real_sendfile(out_fd, in_fd, offset, min(count, 2 * MiB - written))
        written += sent
        return sent

    monkeypatch.setattr(os, "sendfile", send_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        store.put_file(KEY, source)
    assert not store.exists(KEY)
    assert list(store.iter_keys()) == []
    assert list((tmp_path / "store" / ".tmp").iterdir()) == []


def test_local_removes_stale_temp_files(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    stale = write_file(tmp_path / ".tmp" / "put-crashed", b"partial")
    os.utime(stale, (1, 1))
    fresh = write_file(tmp_path / ".tmp" / "put-in-progress", b"partial")
    assert store.remove_stale_temp_files(older_than=3600) == 1
    assert not stale.exists()
    assert fresh.exists()


def test_s3_prefixes_are_isolated(seaweed_server: SeaweedServer, shared_bucket: str) -> None:
    one = open_storage(seaweed_server.storage_url(shared_bucket, "iso-one/" + secrets.token_hex(4)))
    two = open_storage(seaweed_server.storage_url(shared_bucket, "iso-two/" + secrets.token_hex(4)))
    one.put_bytes(KEY, b"one")
    assert not two.exists(KEY)
    two.put_bytes(KEY, b"two")
    assert one.get_bytes(KEY) == b"one"
    assert list(one.iter_keys()) == [KEY]
    assert list(two.iter_keys()) == [KEY]


def test_s3_without_prefix_skips_folder_markers(seaweed_server: SeaweedServer) -> None:
    bucket = seaweed_server.make_bucket("noprefix-" + secrets.token_hex(4))
    store = open_storage(seaweed_server.storage_url(bucket))
    assert isinstance(store, S3Storage)
    assert store.prefix == ""
    store.put_bytes(KEY, b"top")
    client = seaweed_server.client()
    client.put_object(Bucket=bucket, Key="folder/", Body=b"")  # what some S3 consoles create
    client.close()
    assert list(store.iter_keys()) == [KEY]
    assert store.get_bytes(KEY) == b"top"


# -- open_storage ---------------------------------------------------------------------------


def test_open_storage_file_url(tmp_path: Path) -> None:
    store = open_storage((tmp_path / "a dir").as_uri())
    assert isinstance(store, LocalStorage)
    assert store.root == tmp_path / "a dir"
    assert (tmp_path / "a dir").is_dir()
    other = open_storage(f"file://localhost{tmp_path}/x")
    assert isinstance(other, LocalStorage)
    assert other.root == tmp_path / "x"


def test_open_storage_plain_path(tmp_path: Path) -> None:
    store = open_storage(str(tmp_path / "plain"))
    assert isinstance(store, LocalStorage)
    assert store.root == tmp_path / "plain"


def test_open_storage_s3_url_parts() -> None:
    store = open_storage(
        "s3://my-bucket/some/prefix/?endpoint=http://127.0.0.1:1&region=eu-west-1"
        "&access_key=AK&secret_key=S%2FK&addressing_style=virtual"
    )
    assert isinstance(store, S3Storage)
    assert (store.bucket, store.prefix) == ("my-bucket", "some/prefix")
    assert (store.endpoint_url, store.region) == ("http://127.0.0.1:1", "eu-west-1")
    store.close()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://host/x",
        "file://otherhost/x",
        "file:relative/path",
        "file:///abs?x=1",
        "s3:///prefix-only",
        "s3://user@bucket/x",
        "s3://bucket/x?endpont=http://typo",
        "s3://bucket/x?access_key=AK",
        "s3://bucket/x?create_bucket=maybe",
        "s3://bucket/x?region=a&region=b",
        "s3://bucket/x?addressing_style=sideways",
        "s3://bucket/../x",
    ],
)
def test_open_storage_refuses_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="storage URL") as info:
        open_storage(url)
    assert "SECRET" not in str(info.value)


def test_open_storage_error_does_not_leak_the_secret() -> None:
    with pytest.raises(ValueError, match="storage URL") as info:
        open_storage("s3://bucket/x?access_key=AK&secret_key=SECRET123&bogus=1")
    assert "SECRET123" not in str(info.value)


def test_open_storage_creates_bucket(seaweed_server: SeaweedServer) -> None:
    bucket = "created-" + secrets.token_hex(4)
    url = seaweed_server.storage_url(bucket, "p") + "&create_bucket=1"
    store = open_storage(url)
    store.put_bytes(KEY, b"made it")
    assert open_storage(url).get_bytes(KEY) == b"made it"  # second open: bucket already there
    client = seaweed_server.client()
    names = [b["Name"] for b in client.list_buckets()["Buckets"]]
    client.close()
    assert bucket in names


def test_open_storage_s3_credentials_from_environment(
    seaweed_server: SeaweedServer,
    shared_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name, value in seaweed_server.aws_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    url = f"s3://{shared_bucket}/env-{secrets.token_hex(4)}?endpoint={seaweed_server.endpoint}"
    store = open_storage(url)
    store.put_bytes(KEY, b"env creds")
    assert store.get_bytes(KEY) == b"env creds"
