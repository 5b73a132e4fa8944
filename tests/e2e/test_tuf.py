"""TUF (PEP 458): a stock python-tuf ``ngclient.Updater``, configured exactly as docs/tuf.md
says, against a live `stockade serve` (two workers) with TUF turned on while it runs.

The Updater is not our code: it verifies what it downloads, and it refuses a file changed in
storage, expired metadata (signed on a clock moved back two days), a rolled-back timestamp and
snapshot, and metadata signed with a key root does not list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from securesystemslib.signer import CryptoSigner
from sqlalchemy import delete, select, update
from tuf.api.exceptions import (
    BadVersionNumberError,
    ExpiredMetadataError,
    RepositoryError,
    UnsignedMetadataError,
)
from tuf.api.metadata import Metadata, Timestamp
from tuf.ngclient import Updater, UpdaterConfig

from e2e.conftest import LiveServer, stockade_serve, upload_wheel
from stockade.config import Settings, load_settings
from stockade.db import Database
from stockade.index.paths import blob_key, file_path
from stockade.jobs.interface import JobContext, JobResult
from stockade.jobs.runner import holder_name, run_job
from stockade.mail import mailer_from_settings
from stockade.storage import open_storage
from stockade.tuf.job import TUF_JOB
from stockade.tuf.models import TufMetadata, TufState
from stockade.tuf.publish import publish
from stockade.tuf.roles import serialize, sign, timestamp_role
from support.backend import backend_overrides
from support.builders import wheel_bytes, wheel_name
from support.servers import PostgresServer, SeaweedServer

pytestmark = pytest.mark.e2e

BATCH = 1.5


@dataclasses.dataclass
class TufServer:
    live: LiveServer
    settings: Settings
    db: Database
    keys: Path
    tmp: Path
    fingerprint: str

    def metadata_dir(self, name: str) -> Path:
        """A client's metadata folder."""
        folder = self.tmp / name
        folder.mkdir(exist_ok=True)
        return folder

    def updater(self, name: str) -> Updater:
        """A stock Updater, configured as docs/tuf.md says: bootstrapped with ``1.root.json``
        once its SHA-256 matches the fingerprint the operator published (a client that starts
        from version 1 walks every root after it)."""
        root = httpx.get(f"{self.live.url}/tuf/1.root.json").content
        assert hashlib.sha256(root).hexdigest() == self.fingerprint
        targets = self.tmp / f"{name}-targets"
        targets.mkdir(exist_ok=True)
        return Updater(
            str(self.metadata_dir(name)),
            bootstrap=root,
            metadata_base_url=f"{self.live.url}/tuf/",
            target_base_url=f"{self.live.url}/",
            target_dir=str(targets),
            config=UpdaterConfig(prefix_targets_with_hash=False),
        )

    def wait_for_target(self, path: str, *, sha256: str | None = None) -> None:
        """Poll (a new client each time) until the metadata list ``path`` (with ``sha256``)."""
        deadline = time.monotonic() + 30
        while True:
            info = self.updater(f"poll-{time.monotonic_ns()}").get_targetinfo(path)
            if info is not None and sha256 in (None, info.hashes["sha256"]):
                return
            assert time.monotonic() < deadline, f"{path} never became a target"
            time.sleep(0.1)

    def run_batch(self, *, now: dt.datetime | None = None) -> None:
        """One batch under the job lease (as a worker runs it), on ``now``'s clock."""

        def run(ctx: JobContext) -> JobResult:
            publish(ctx.db, ctx.settings, now=now)
            return JobResult()

        ctx = JobContext(self.settings, self.db, mailer_from_settings(self.settings))
        deadline = time.monotonic() + 30
        while True:
            try:
                run_job(ctx, dataclasses.replace(TUF_JOB, run=run), holder=holder_name("test"))
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # a worker's batch holds the lease: poll until it is done


@pytest.fixture(scope="module")
def tuf(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer | None,
    seaweed: SeaweedServer | None,
) -> Iterator[TufServer]:
    """A live server with one project uploaded, then TUF turned on (bootstrapping it)."""
    data = tmp_path_factory.mktemp("tuf-live")
    tmp = tmp_path_factory.mktemp("tuf-clients")
    overrides, name = backend_overrides(postgres, seaweed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update({f"STOCKADE_{k.upper()}": v for k, v in overrides.items()})
    env["STOCKADE_SCHEDULER"] = "0"
    env["STOCKADE_TUF_BATCH_INTERVAL"] = str(BATCH)
    try:
        with stockade_serve(data, env, data / "server.log", "--workers", "2") as url:
            live = LiveServer(url, data, data / "server.log", env, "")
            live.stockade(
                "user", "create", "alice", "--email", "alice@example.test",
                "--password-stdin", stdin="correct horse battery\n",
            )  # fmt: skip
            live.token = live.stockade("token", "create", "alice").strip()
            _upload(url, live.token, "early", "1.0")
            keys = tmp / "offline-keys"
            shown = live.stockade("tuf", "init", "--keys", str(keys), "--bins", "16")
            fingerprint = shown.split("fingerprint (sha256): ", 1)[1].split()[0]
            assert (
                fingerprint
                == hashlib.sha256(httpx.get(f"{url}/tuf/1.root.json").content).hexdigest()
            )
            settings = load_settings(data, environ=env)
            db = Database(settings.database_url)
            try:
                yield TufServer(live, settings, db, keys, tmp, fingerprint)
            finally:
                db.dispose()
    finally:
        if postgres is not None:
            postgres.drop_database(name)


UPLOADED: dict[tuple[str, str], bytes] = {}


def _upload(url: str, token: str, name: str, version: str) -> None:
    content = UPLOADED[name, version] = wheel_bytes(name, version)
    assert upload_wheel(url, token, name, version, content=content) == 200


def _file_target(name: str, version: str) -> tuple[str, bytes]:
    """The target path and bytes of an uploaded wheel."""
    content = UPLOADED[name, version]
    sha256 = hashlib.sha256(content).hexdigest()
    return file_path(sha256, wheel_name(name, version)).lstrip("/"), content


def test_stock_updater_verifies_files_and_pages(tuf: TufServer) -> None:
    # The file uploaded before `tuf init` was bootstrapped into the first batch.
    early, early_bytes = _file_target("early", "1.0")
    client = tuf.updater("first")
    client.refresh()
    info = client.get_targetinfo(early)
    assert info is not None
    assert Path(client.download_target(info)).read_bytes() == early_bytes

    # A burst of uploads within one batch interval costs one snapshot, not one per file.
    with tuf.db.read() as session:
        before = session.scalar(
            select(TufMetadata.version)
            .where(TufMetadata.role == "snapshot")
            .order_by(TufMetadata.version.desc())
        )
    started = time.monotonic()
    with ThreadPoolExecutor(5) as pool:
        for future in [
            pool.submit(_upload, tuf.live.url, tuf.live.token, "burst", version)
            for version in ("1.0", "1.1", "1.2", "1.3", "1.4")
        ]:
            future.result()
    burst_took = time.monotonic() - started
    last, _ = _file_target("burst", "1.4")
    tuf.wait_for_target(last)
    with tuf.db.read() as session:
        after = session.scalar(
            select(TufMetadata.version)
            .where(TufMetadata.role == "snapshot")
            .order_by(TufMetadata.version.desc())
        )
    assert before is not None and after is not None
    # At most one batch per interval the burst spanned, and one for its tail (not one each).
    assert after - before <= int(burst_took / BATCH) + 2

    client = tuf.updater("second")
    client.refresh()
    for version in ("1.0", "1.4"):
        path, content = _file_target("burst", version)
        info = client.get_targetinfo(path)
        assert info is not None and info.length == len(content)
        assert Path(client.download_target(info)).read_bytes() == content
    # The project's pages are targets too, as the simple API serves them.
    for form, accept in (("html", "text/html"), ("json", "application/vnd.pypi.simple.v1+json")):
        info = client.get_targetinfo(f"simple/burst/index.{form}")
        assert info is not None
        served = httpx.get(f"{tuf.live.url}/simple/burst/", headers={"Accept": accept}).content
        # A batch that read the files as the last upload committed may have signed the page
        # before it: the next batch signs the newest one.
        tuf.wait_for_target(f"simple/burst/index.{form}", sha256=hashlib.sha256(served).hexdigest())
        client = tuf.updater(f"page-{form}")
        info = client.get_targetinfo(f"simple/burst/index.{form}")
        assert info is not None
        assert Path(client.download_target(info)).read_bytes() == served
        assert b"burst-1.4-py3-none-any.whl" in served
    # Metadata are plain files a CDN can cache: versioned ones for good.
    r = httpx.get(f"{tuf.live.url}/tuf/1.root.json")
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert httpx.get(f"{tuf.live.url}/tuf/9999.root.json").status_code == 404
    # Paths that climb out of /tuf/ (sent as they are: httpx would normalize "..").
    for raw in (b"/tuf/../stockade.toml", b"/tuf/%2E%2E%2Fstockade.toml", b"/tuf/..%2fsecret_key"):
        url = httpx.URL(f"{tuf.live.url}/").copy_with(raw_path=raw)
        r = httpx.get(url)
        assert r.status_code == 404 and b"secret" not in r.content, raw
    assert httpx.post(f"{tuf.live.url}/tuf/timestamp.json").status_code == 405
    # `stockade tuf root --fingerprint` prints it for scripts.
    assert tuf.live.stockade("tuf", "root", "--fingerprint").strip() == tuf.fingerprint


def test_refuses_a_file_changed_in_storage(tuf: TufServer) -> None:
    path, content = _file_target("early", "1.0")
    storage = open_storage(tuf.settings.storage_url)
    key = blob_key(hashlib.sha256(content).hexdigest())
    try:
        storage.delete(key)
        storage.put_bytes(key, content[:-1] + bytes([content[-1] ^ 1]))
        client = tuf.updater("tampered")
        info = client.get_targetinfo(path)
        assert info is not None
        with pytest.raises(RepositoryError):  # LengthOrHashMismatchError
            client.download_target(info)
    finally:
        storage.delete(key)
        storage.put_bytes(key, content)
        storage.close()
    assert Path(tuf.updater("restored").download_target(info)).read_bytes() == content


def test_refuses_expired_metadata_and_the_job_renews_it(tuf: TufServer) -> None:
    # The signer last ran two days ago (its clock moved back): a freeze.
    with tuf.db.write() as session:
        session.execute(update(TufState).values(resign_all=True))
    tuf.run_batch(now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    with pytest.raises(ExpiredMetadataError):
        tuf.updater("frozen").refresh()
    # The next batch sees expired (and nearly expired) roles and signs them again.
    tuf.run_batch()
    tuf.updater("renewed").refresh()


def _newest_timestamp(tuf: TufServer) -> TufMetadata:
    with tuf.db.read() as session:
        newest = session.scalars(
            select(TufMetadata).where(TufMetadata.role == "timestamp")
            .order_by(TufMetadata.version.desc())
        ).first()  # fmt: skip
    assert newest is not None
    return newest


def test_refuses_a_rolled_back_snapshot(tuf: TufServer) -> None:
    client_name = "rollback"
    tuf.updater(client_name).refresh()
    old = _newest_timestamp(tuf)
    _upload(tuf.live.url, tuf.live.token, "rollback", "1.0")
    path, _ = _file_target("rollback", "1.0")
    tuf.wait_for_target(path)
    tuf.updater(client_name).refresh()  # the client now trusts the newer snapshot
    with tuf.db.write() as session:
        newer = list(
            session.scalars(
                select(TufMetadata).where(
                    TufMetadata.role == "timestamp", TufMetadata.version > old.version
                )
            )
        )
        saved = [(m.version, m.body, m.expires, m.superseded_at) for m in newer]
        session.execute(
            delete(TufMetadata).where(
                TufMetadata.role == "timestamp", TufMetadata.version > old.version
            )
        )
    try:
        # The server now answers with the older timestamp (and so the older snapshot).
        assert (
            Metadata[Timestamp]
            .from_bytes(httpx.get(f"{tuf.live.url}/tuf/timestamp.json").content)
            .signed.version
            == old.version
        )
        with pytest.raises(BadVersionNumberError):
            tuf.updater(client_name).refresh()
    finally:
        with tuf.db.write() as session:
            for version, body, expires, superseded_at in saved:
                session.add(
                    TufMetadata(
                        role="timestamp",
                        version=version,
                        body=body,
                        expires=expires,
                        superseded_at=superseded_at,
                    )
                )
    tuf.updater(client_name).refresh()


def test_refuses_metadata_signed_by_a_wrong_key(tuf: TufServer) -> None:
    current = _newest_timestamp(tuf)
    real = Metadata[Timestamp].from_bytes(current.body).signed
    now = dt.datetime.now(dt.UTC)
    forged = sign(
        timestamp_role(real.version + 1, now, real.snapshot_meta.version),
        [CryptoSigner.generate_ed25519()],
    )
    with tuf.db.write() as session:
        session.add(
            TufMetadata(
                role="timestamp",
                version=real.version + 1,
                body=serialize(forged),
                expires=forged.signed.expires,
            )
        )
    try:
        with pytest.raises(UnsignedMetadataError):
            tuf.updater("forged").refresh()
    finally:
        with tuf.db.write() as session:
            session.execute(
                delete(TufMetadata).where(
                    TufMetadata.role == "timestamp", TufMetadata.version == real.version + 1
                )
            )
    tuf.updater("after-forgery").refresh()


def test_online_key_rotation_through_a_new_root(tuf: TufServer) -> None:
    client = "rotation"
    tuf.updater(client).refresh()
    tuf.live.stockade("tuf", "sign-root", "--keys", str(tuf.keys), "--rotate-online-key")
    # A client that trusted root v1 walks to v2 and accepts metadata signed by the new key.
    updater = tuf.updater(client)
    updater.refresh()
    assert Metadata.from_file(str(tuf.metadata_dir(client) / "root.json")).signed.version == 2
    path, content = _file_target("early", "1.0")
    info = updater.get_targetinfo(path)
    assert info is not None
    assert Path(updater.download_target(info)).read_bytes() == content
