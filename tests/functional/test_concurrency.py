"""Races on the write path, over real HTTP with several client threads."""

from __future__ import annotations

import functools
import threading

import httpx
from sqlalchemy import select

from stockade.index.models import File
from support.builders import wheel_bytes, wheel_name
from support.index import Index, upload_fields
from support.threads import run_threads


def test_concurrent_uploads_of_one_filename_exactly_one_wins(index: Index) -> None:
    token = index.token()
    with index.live() as url:
        for round_ in range(5):
            version = f"1.{round_}"
            filename = wheel_name("racer", version)
            contents = [
                wheel_bytes("racer", version, files={"racer/who.py": f"who = {i}\n".encode()})
                for i in range(2)
            ]
            barrier = threading.Barrier(2)

            def go(
                content: bytes, filename: str = filename, barrier: threading.Barrier = barrier
            ) -> httpx.Response:
                with httpx.Client(timeout=60) as client:
                    barrier.wait()
                    return client.post(
                        f"{url}/legacy/",
                        data=upload_fields(content, filename),
                        files={"content": (filename, content)},
                        auth=("__token__", token),
                    )

            results = run_threads([functools.partial(go, c) for c in contents])
            statuses = sorted(r.status_code for r in results)
            assert statuses == [200, 400], [(r.status_code, r.text) for r in results]
            loser = next(r for r in results if r.status_code == 400)
            assert loser.text.startswith("File already exists")
            with index.db.read() as s:
                stored = s.scalars(select(File).where(File.filename == filename)).all()
            assert len(stored) == 1
            served = httpx.get(
                f"{url}/simple/racer/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
            ).json()
            (entry,) = [f for f in served["files"] if f["filename"] == filename]
            assert entry["hashes"]["sha256"] == stored[0].sha256_digest


def test_concurrent_first_uploads_to_a_new_project(index: Index) -> None:
    token = index.token()
    with index.live() as url:
        contents = [wheel_bytes("fresh", f"1.{i}") for i in range(4)]
        barrier = threading.Barrier(len(contents))

        def go(i: int) -> int:
            filename = wheel_name("fresh", f"1.{i}")
            with httpx.Client(timeout=60) as client:
                barrier.wait()
                r = client.post(
                    f"{url}/legacy/",
                    data=upload_fields(contents[i], filename),
                    files={"content": (filename, contents[i])},
                    auth=("__token__", token),
                )
                return r.status_code

        results = run_threads([functools.partial(go, i) for i in range(len(contents))])
        assert results == [200] * len(contents)
        page = httpx.get(
            f"{url}/simple/fresh/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        ).json()
        assert page["versions"] == ["1.0", "1.1", "1.2", "1.3"]
