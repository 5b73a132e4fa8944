"""The stage preview negotiates PEP 691 JSON as ``/simple/`` does: its root and its project
page answer JSON when asked (``Accept`` or ``?format=``), HTML otherwise."""

from __future__ import annotations

import pytest

from support.builders import wheel_bytes, wheel_name
from support.index import Index
from support.staging import open_session, stage_file

pytestmark = pytest.mark.e2e

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def test_the_preview_answers_pep_691_json(index: Index) -> None:
    alice = index.token("alice")
    published = wheel_name("demo", "1.0")
    assert index.upload(wheel_bytes("demo", "1.0"), published).status_code == 200
    session = open_session(index, alice, "demo", "2.0").json()
    staged, data = wheel_name("demo", "2.0"), wheel_bytes("demo", "2.0")
    stage_file(index, alice, session, staged, data)
    stage = session["links"]["stage"]
    public = index.client.get("/simple/demo/", headers={"Accept": JSON_V1}).json()

    root = index.client.get(stage, headers={"Accept": f"text/html;q=0.5, {JSON_V1}"})
    assert root.status_code == 200
    assert root.headers["content-type"] == JSON_V1
    assert "accept" in root.headers["vary"].lower()
    assert root.json()["meta"]["api-version"] == public["meta"]["api-version"]
    assert [p["name"] for p in root.json()["projects"]] == ["demo"]

    page = index.client.get(f"{stage}demo/", headers={"Accept": JSON_V1})
    assert page.status_code == 200 and page.headers["content-type"] == JSON_V1
    assert page.headers["cache-control"] == "no-store"
    doc = page.json()
    assert doc["name"] == "demo" and doc["versions"] == ["1.0", "2.0"]
    assert [f["filename"] for f in doc["files"]] == [published, staged]
    # The published file is described exactly as the public page describes it.
    assert doc["files"][0] == public["files"][0]
    assert doc["files"][1]["hashes"]["sha256"] == session_file_sha(index, staged)
    assert set(doc) == set(public)

    by_query = index.client.get(f"{stage}demo/", params={"format": JSON_V1})
    assert by_query.json() == doc
    html = index.client.get(f"{stage}demo/")
    assert html.headers["content-type"].startswith("text/html")
    assert staged in html.text and published in html.text
    # The file URLs in the JSON resolve through the preview, as the HTML's do.
    url = doc["files"][1]["url"]
    download = index.client.get(f"{stage}demo/{url}")
    assert download.status_code == 200 and download.content == data


def session_file_sha(index: Index, filename: str) -> str:
    from sqlalchemy import select

    from stockade.staging.models import StagedFile

    with index.db.read() as s:
        digest = s.scalar(select(StagedFile.sha256_digest).where(StagedFile.filename == filename))
    assert digest is not None
    return digest
