"""`stockade export` and `stockade import bundle` move an index between machines and backends:
exported from SQLite + local files while the server runs, imported into PostgreSQL + S3, the
two serve the same bytes; a requirements file's closure reaches an index that already holds
other projects, and pip installs from it; a tampered bundle is refused whole; a file here with
other bytes is a conflict, reported.

These tests need both backends whichever one the run is on: they reuse the run's PostgreSQL
and S3 servers, or start their own."""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.conftest import (
    BIN,
    JSON_ACCEPT,
    Instance,
    across_backends,
    client_env,
    run,
    snapshot,
    upload_wheel,
)
from support.advisories import osv, write
from support.builders import metadata_text, wheel_bytes
from support.servers import PostgresServer, SeaweedServer


@pytest.fixture
def instances(
    tmp_path: Path, servers: tuple[PostgresServer, SeaweedServer]
) -> Iterator[dict[str, Instance]]:
    """A SQLite + files index to export from, and PostgreSQL + S3 ones to import into."""
    with across_backends(tmp_path, servers, ("sqlite", "postgres", "postgres-b")) as made:
        yield made


def wheel(name: str, version: str, requires: str = "") -> bytes:
    extra = "".join(f"Requires-Dist: {r}\n" for r in requires.split(";;") if r)
    return wheel_bytes(name, version, metadata=metadata_text(name, version, extra=extra))


def stockade(instance: Instance, *args: str) -> tuple[int, str]:
    proc = run(
        [str(BIN / "stockade"), *args, "--data", str(instance.data)],
        env=instance.env,
        check=False,
    )
    # One line per message, whatever the terminal's width.
    return proc.returncode, " ".join(proc.stderr.split())


def filled_source(source: Instance, tmp_path: Path) -> str:
    """alice's app (needing lib), three releases of lib, an unrelated project, a yank and
    an advisory; returns alice's token."""
    source.stockade("db", "migrate")
    token = source.token()
    with source.serve() as url:
        for name, version, requires in (
            ("app", "1.0", "lib>=1.0;;never-there; sys_platform == 'nowhere'"),
            ("app", "1.1", "lib>=2.0"),
            ("lib", "0.9", ""),
            ("lib", "1.0", ""),
            ("lib", "2.0", ""),
            ("unrelated", "3.0", ""),
        ):
            content = wheel(name, version, requires)
            assert upload_wheel(url, token, name, version, content=content) == 200
    source.stockade("release", "yank", "lib", "0.9", "--reason", "broken")
    advisories = write(tmp_path / "osv", osv("PYSEC-2099-1", "lib"))
    source.stockade("advisories", "import", str(advisories))
    return token


def test_a_whole_index_moves_from_sqlite_to_postgres_and_serves_the_same_bytes(
    instances: dict[str, Instance], tmp_path: Path
) -> None:
    source, target = instances["sqlite"], instances["postgres"]
    filled_source(source, tmp_path)
    bundle = tmp_path / "index.tar"
    with source.serve() as url:
        before = snapshot(url)
        # Taken while the server runs.
        code, out = stockade(source, "export", str(bundle))
        assert code == 0, out
    assert "exported 3 project(s), 6 file(s)" in out, out
    with tarfile.open(bundle) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["selection"] == {"kind": "whole"}
    assert len(manifest["blobs"]) == 12  # six wheels and their METADATA

    code, out = stockade(target, "import", "bundle", str(bundle))
    assert code == 0, out
    assert "copied the whole index: 3 project(s), 6 file(s), 12 blob(s)" in out, out
    fsck = target.stockade("admin", "fsck", "--json")
    assert json.loads(fsck)["ok"] is True, fsck
    with target.serve() as url:
        after = snapshot(url)
        root = httpx.get(f"{url}/simple/", headers={"Accept": JSON_ACCEPT}).content
        advisory = httpx.get(f"{url}/pypi/lib/1.0/json").json()["vulnerabilities"]
    # Byte for byte: pages (JSON and HTML, serials included), the JSON API and every file.
    assert after == before
    assert [a["id"] for a in advisory] == ["PYSEC-2099-1"]

    # Again: nothing changes (every file is there, every event and advisory known).
    code, out = stockade(target, "import", "bundle", str(bundle))
    assert code == 0, out
    assert "imported 0 file(s) into 0 project(s); 6 already there; 0 in conflict" in out, out
    assert "0 event(s) and 0 advisory(ies) added" in out, out
    with target.serve() as url:
        assert httpx.get(f"{url}/simple/", headers={"Accept": JSON_ACCEPT}).content == root
        # The JSON API now counts the first look's downloads: the pages and files compare.
        again = snapshot(url)
    assert {k: v for k, v in again.items() if not k.startswith("api/")} == {
        k: v for k, v in before.items() if not k.startswith("api/")
    }


def test_what_a_requirements_file_needs_merges_into_another_index_and_pip_installs_it(
    instances: dict[str, Instance], tmp_path: Path
) -> None:
    source, target = instances["sqlite"], instances["postgres"]
    filled_source(source, tmp_path)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# the air-gapped app\napp==1.0\n--index-url https://x.test/\n")
    bundle = tmp_path / "bundle"
    code, out = stockade(source, "export", str(bundle), "-r", str(requirements))
    assert code == 0, out
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["selection"]["requirements"] == ["app==1.0"]
    rows = [json.loads(line) for line in (bundle / "rows.jsonl").read_text().splitlines()]
    # app 1.0 and what it needs: lib>=1.0 (not the yanked 0.9); no app 1.1, no unrelated.
    assert sorted(r["row"]["filename"] for r in rows if r["table"] == "files") == [
        "app-1.0-py3-none-any.whl",
        "lib-1.0-py3-none-any.whl",
        "lib-2.0-py3-none-any.whl",
    ]
    assert "users" not in {r["table"] for r in rows}  # a selection carries no account

    # The other index has its own project and user already.
    target.stockade("db", "migrate")
    bob = target.token()
    with target.serve() as url:
        assert upload_wheel(url, bob, "local-thing", "1.0") == 200
    code, out = stockade(target, "import", "bundle", str(bundle))
    assert code == 0, out
    assert "imported 3 file(s) into 2 project(s); 0 already there; 0 in conflict" in out, out
    code, again = stockade(target, "import", "bundle", str(bundle))
    assert code == 0 and "imported 0 file(s) into 0 project(s); 3 already there" in again, again

    with source.serve() as source_url, target.serve() as url:
        names = [
            p["name"]
            for p in httpx.get(f"{url}/simple/", headers={"Accept": JSON_ACCEPT}).json()["projects"]
        ]
        assert sorted(names) == ["app", "lib", "local-thing"]
        for name in ("app", "lib"):
            here = httpx.get(f"{url}/simple/{name}/", headers={"Accept": JSON_ACCEPT}).json()
            there = httpx.get(
                f"{source_url}/simple/{name}/", headers={"Accept": JSON_ACCEPT}
            ).json()
            chosen = {f["filename"] for f in here["files"]}
            assert [f for f in there["files"] if f["filename"] in chosen] == here["files"]
            for f in here["files"]:
                got = httpx.get(httpx.URL(f"{url}/simple/{name}/").join(f["url"])).content
                want = httpx.get(httpx.URL(f"{source_url}/simple/{name}/").join(f["url"]))
                assert got == want.content
        advisory = httpx.get(f"{url}/pypi/lib/1.0/json").json()["vulnerabilities"]
        assert [a["id"] for a in advisory] == ["PYSEC-2099-1"]
        # pip reads index options in a requirements file: the install names this index alone.
        pins = tmp_path / "pins.txt"
        pins.write_text("app==1.0\n")
        installed = tmp_path / "site"
        run(
            [
                str(BIN / "python"), "-m", "pip", "install", "--target", str(installed),
                "--index-url", f"{url}/simple/", "-r", str(pins),
            ],
            env=client_env(),
        )  # fmt: skip
    assert sorted(p.name for p in installed.glob("*.dist-info")) == [
        "app-1.0.dist-info",
        "lib-2.0.dist-info",
    ]


def test_a_tampered_bundle_is_refused_and_nothing_is_stored(
    instances: dict[str, Instance], tmp_path: Path
) -> None:
    source, target = instances["sqlite"], instances["postgres"]
    filled_source(source, tmp_path)
    bundle = tmp_path / "bundle"
    source.stockade("export", str(bundle), "--project", "lib")
    manifest = json.loads((bundle / "manifest.json").read_text())
    blob = next(p for p in (bundle / "blobs").rglob("*") if p.is_file())
    original = blob.read_bytes()
    blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    code, out = stockade(target, "import", "bundle", str(bundle))
    assert code == 1
    assert "the bundle was refused, nothing was stored" in out, out
    assert "does not match its sha256" in out, out
    blob.write_bytes(original)

    rows = bundle / "rows.jsonl"
    rows.write_text(rows.read_text().replace('"lib"', '"lib2"', 1))
    code, out = stockade(target, "import", "bundle", str(bundle))
    assert code == 1 and "rows.jsonl does not match the manifest's sha256" in out, out
    assert len(manifest["blobs"]) == 6
    with target.serve() as url:
        root = httpx.get(f"{url}/simple/", headers={"Accept": JSON_ACCEPT}).json()
    assert root["projects"] == []
    fsck = json.loads(target.stockade("admin", "fsck", "--json"))
    assert fsck["ok"] is True, fsck


def test_a_file_here_with_other_bytes_is_a_conflict_and_the_rest_is_merged(
    instances: dict[str, Instance], tmp_path: Path
) -> None:
    source, target = instances["sqlite"], instances["postgres-b"]
    filled_source(source, tmp_path)
    bundle = tmp_path / "lib.tar"
    source.stockade("export", str(bundle), "--project", "lib", "--project", "APP")
    target.stockade("db", "migrate")
    token = target.token()
    with target.serve() as url:
        other = wheel_bytes("lib", "1.0", files={"lib/extra.py": b"x = 1\n"})
        assert upload_wheel(url, token, "lib", "1.0", content=other) == 200
    code, out = stockade(target, "import", "bundle", str(bundle))
    assert code == 1, out
    assert "imported 4 file(s) into 2 project(s); 0 already there; 1 in conflict" in out, out
    assert "conflict lib-1.0-py3-none-any.whl: here with sha256" in out, out
    with target.serve() as url:
        page = httpx.get(f"{url}/simple/lib/", headers={"Accept": JSON_ACCEPT}).json()
        # alice exists here too: she owns app, which the import created (and uploads to it).
        assert upload_wheel(url, token, "app", "1.2") == 200
    assert page["versions"] == ["0.9", "1.0", "2.0"]
    kept = next(f for f in page["files"] if f["filename"] == "lib-1.0-py3-none-any.whl")
    assert kept["hashes"]["sha256"] == hashlib.sha256(other).hexdigest()
