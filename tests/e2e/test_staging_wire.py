"""The Upload 2.0 API (PEP 694) over real HTTP, spoken by a client written from the PEP alone:
publishing session creation, status, extension, cancellation, the 409 for a second live session
of one release, and the 403 (before any 409) for a principal that may not upload."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import httpx
import pytest

from support.builders import wheel_bytes, wheel_name
from support.index import Index

pytestmark = pytest.mark.e2e

V2 = "application/vnd.pypi.upload.v2+json"
META = {"api-version": "2.0"}
ZULU = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _post(url: str, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        url, json=body, headers={"Content-Type": V2}, auth=("__token__", token), timeout=30
    )


def _declaration(filename: str, data: bytes) -> dict[str, Any]:
    return {
        "meta": META,
        "filename": filename,
        "size": len(data),
        "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
        "mechanism": "http-post-bytes",
    }


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["meta"] == META
    assert body["errors"] and all({"source", "message"} <= e.keys() for e in body["errors"])
    return body


def test_session_lifecycle_over_the_wire(index: Index) -> None:
    owner = index.token("alice")
    wheel = wheel_bytes("demo", "1.0")
    assert index.upload(wheel, wheel_name("demo", "1.0"), token=owner).status_code == 200
    index.token("bob")  # bob exists, with no role on demo
    bob = index.token("bob")
    elsewhere = index.token("alice", project="other")

    with index.live() as base:
        root = f"{base}/upload/"
        created = _post(root, owner, {"meta": META, "name": "Demo", "version": "2.0"})
        assert created.status_code == 201, created.text
        assert created.headers["content-type"].startswith(V2)
        session = created.json()
        links = session["links"]
        assert created.headers["location"] == links["session"]
        assert session["status"] == "open" and session["files"] == {}
        assert "http-post-bytes" in session["mechanisms"]
        assert ZULU.fullmatch(session["expires-at"])
        expires = dt.datetime.strptime(session["expires-at"], "%Y-%m-%dT%H:%M:%SZ")
        assert expires > dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=6)
        token = session["session-token"]
        assert len(token) >= 32 and token in links["stage"]

        # A second live session for the same release: 409, pointing at the first.
        again = _post(root, owner, {"meta": META, "name": "demo", "version": "2.0.0"})
        _problem(again, 409)
        assert again.headers["location"] == links["session"]
        # Not allowed to upload to demo: 403, and nothing disclosed about the live session.
        for stranger in (bob, elsewhere):
            refused = _post(root, stranger, {"meta": META, "name": "demo", "version": "2.0"})
            _problem(refused, 403)
            assert "location" not in refused.headers
            _problem(httpx.get(links["session"], auth=("__token__", stranger)), 403)
            _problem(httpx.delete(links["session"], auth=("__token__", stranger)), 403)

        status = httpx.get(links["session"], auth=("__token__", owner))
        assert status.status_code == 200 and status.json()["session-token"] == token
        extended = _post(links["extend"], owner, {"meta": META, "extend-for": 3600})
        assert extended.status_code == 200
        # Never earlier than before (a week is already more than an hour).
        assert extended.json()["expires-at"] >= session["expires-at"]

        # Hostile or malformed requests: clear 4xx problems, never a 500.
        _problem(httpx.post(root, json={"meta": META, "name": "x", "version": "1"}), 401)
        _problem(
            httpx.post(
                root,
                content=b"{}",
                headers={"Content-Type": "application/json"},
                auth=("__token__", owner),
            ),
            415,
        )
        _problem(_post(root, owner, {"meta": {"api-version": "1.0"}, "name": "x"}), 400)
        _problem(_post(root, owner, {"meta": META, "name": "demo", "version": "not a v"}), 400)
        _problem(_post(root, owner, {"meta": META, "name": "-bad-", "version": "1"}), 400)
        _problem(_post(root, owner, {"meta": META, "name": ["x"], "version": "1"}), 400)
        _problem(httpx.get(f"{root}session/nonesuch", auth=("__token__", owner)), 404)

        # Cancel: 204; the status URL still answers, canceled; the release is free again.
        canceled = httpx.delete(links["session"], auth=("__token__", owner))
        assert canceled.status_code == 204
        after = httpx.get(links["session"], auth=("__token__", owner))
        assert after.status_code == 200 and after.json()["status"] == "canceled"
        _problem(httpx.delete(links["session"], auth=("__token__", owner)), 409)
        fresh = _post(root, owner, {"meta": META, "name": "demo", "version": "2.0"})
        assert fresh.status_code == 201
        assert fresh.json()["session-token"] != token
        assert fresh.headers["location"] != links["session"]

        # A first release of a new name: the creator may open it (name rules as for uploads).
        first = _post(root, owner, {"meta": META, "name": "brand-new", "version": "0.1"})
        assert first.status_code == 201, first.text


def test_an_expired_session_frees_its_release(index: Index) -> None:
    from sqlalchemy import update

    from stockade.staging.models import PublishingSession

    owner = index.token("alice")
    with index.live() as base:
        root = f"{base}/upload/"
        first = _post(root, owner, {"meta": META, "name": "fresh", "version": "1.0"}).json()
        with index.db.write() as session:
            session.execute(
                update(PublishingSession).values(
                    expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
                )
            )
        # The expired session takes no more changes, and its preview is gone.
        _problem(_post(first["links"]["extend"], owner, {"meta": META, "extend-for": 60}), 404)
        assert httpx.get(first["links"]["stage"]).status_code == 404
        again = _post(root, owner, {"meta": META, "name": "fresh", "version": "1.0"})
        assert again.status_code == 201, again.text
        assert again.json()["session-token"] != first["session-token"]
        old = httpx.get(first["links"]["session"], auth=("__token__", owner))
        assert old.json()["status"] == "canceled"


def test_the_expiry_job_discards_sessions_and_their_files(index: Index) -> None:
    from sqlalchemy import func, select, update

    from stockade.catalogue import find_job
    from stockade.jobs.interface import JobContext
    from stockade.jobs.runner import holder_name, run_job
    from stockade.mail import mailer_from_settings
    from stockade.staging.models import PublishingSession, StagedFile
    from stockade.upkeep.references import referenced

    owner = index.token("alice")
    data = wheel_bytes("late", "1.0")
    sha = hashlib.sha256(data).hexdigest()
    with index.live() as base:
        session = _post(f"{base}/upload/", owner, {"meta": META, "name": "late", "version": "1.0"})
        links = session.json()["links"]
        upload = _post(
            links["upload"],
            owner,
            _declaration(wheel_name("late", "1.0"), data),
        ).json()
        sent = httpx.post(
            upload["mechanism"]["file_url"],
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            auth=("__token__", owner),
        )
        assert sent.status_code == 204, sent.text
    with index.db.read() as s:
        assert referenced(s, [sha]) == {sha}  # the sweep leaves a staged blob alone
    job = find_job("staging-expire")
    assert job is not None
    ctx = JobContext(
        settings=index.settings, db=index.db, mailer=mailer_from_settings(index.settings)
    )
    assert run_job(ctx, job, holder=holder_name("test")).result.changes == []
    with index.db.write() as s:
        s.execute(
            update(PublishingSession).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    changes = run_job(ctx, job, holder=holder_name("test")).result.changes
    assert changes == ["expired the session for late 1.0"]
    with index.db.read() as s:
        assert s.scalar(select(func.count()).select_from(StagedFile)) == 0
        assert referenced(s, [sha]) == set()  # now an orphan, for the sweep
        status = s.scalar(select(PublishingSession.status))
    assert status == "canceled"
    # The release and the filename are free: a new session stages the same file.
    with index.live() as base:
        fresh = _post(f"{base}/upload/", owner, {"meta": META, "name": "late", "version": "1.0"})
        assert fresh.status_code == 201, fresh.text
        declared = _post(
            fresh.json()["links"]["upload"],
            owner,
            _declaration(wheel_name("late", "1.0"), data),
        )
        assert declared.status_code == 202, declared.text


def test_a_legacy_upload_can_go_into_a_session(index: Index) -> None:
    from support.index import upload_fields

    owner = index.token("alice")
    created = index.client.post(
        "/upload/",
        json={"meta": META, "name": "legacy-staged", "version": "1.0"},
        headers={"Content-Type": V2},
        auth=("__token__", owner),
    )
    assert created.status_code == 201, created.text
    session = created.json()
    data = wheel_bytes("legacy-staged", "1.0")
    filename = wheel_name("legacy-staged", "1.0")

    def legacy(session_token: str) -> httpx.Response:
        return index.client.post(
            "/legacy/",
            data=upload_fields(data, filename),
            files={"content": (filename, data, "application/octet-stream")},
            auth=("__token__", owner),
            headers={"X-Stockade-Publishing-Session": session_token},
        )

    assert legacy("nonesuch").status_code == 404
    staged = legacy(session["session-token"])
    assert staged.status_code == 200, staged.text
    assert index.client.get("/simple/legacy-staged/").status_code == 404
    status = index.client.get(session["links"]["session"], auth=("__token__", owner)).json()
    assert status["files"][filename]["status"] == "completed"
    assert legacy(session["session-token"]).status_code == 409  # already in the session
