"""Upstream project pages, JSON (PEP 691) and HTML (PEP 503): every field a file entry can
carry is read, relative URLs resolve against the page, entries without a sha256 are left out."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from stockade.mirror.upstream import parse_html, parse_json

BASE = "https://up.example/simple/demo/"
SHA = "a" * 64
META = "b" * 64


def test_json_pages_give_every_field() -> None:
    doc = {
        "meta": {"api-version": "1.4"},
        "name": "Demo",
        "versions": ["1.0", "2.0"],
        "project-status": {"status": "archived", "reason": "moved to demo2"},
        "files": [
            {
                "filename": "demo-1.0-py3-none-any.whl",
                "url": "../../files/demo-1.0-py3-none-any.whl",
                "hashes": {"sha256": SHA.upper()},
                "size": 1234,
                "upload-time": "2024-05-06T07:08:09.123456Z",
                "requires-python": ">=3.9",
                "yanked": "broken",
                "core-metadata": {"sha256": META},
                "provenance": "https://up.example/integrity/demo/1.0/x/provenance",
            },
            {
                "filename": "demo-2.0.tar.gz",
                "url": "https://files.example/demo-2.0.tar.gz",
                "hashes": {"sha256": SHA},
                "yanked": True,
                # PEP 658's original key, still sent by some indexes.
                "dist-info-metadata": True,
            },
            {
                "filename": "demo-2.0-py3-none-any.whl",
                "url": "demo-2.0-py3-none-any.whl",
                "hashes": {"sha256": SHA},
                "data-dist-info-metadata": {"sha256": META},
            },
            {"filename": "demo-3.0.tar.gz", "url": "demo-3.0.tar.gz", "hashes": {"md5": "x"}},
        ],
    }
    page = parse_json(json.dumps(doc).encode(), BASE)
    assert page.name == "Demo"
    assert page.versions == ("1.0", "2.0")
    assert (page.status, page.status_reason) == ("archived", "moved to demo2")
    assert page.skipped == ("demo-3.0.tar.gz",)
    first, second, third = page.files
    assert first.url == "https://up.example/files/demo-1.0-py3-none-any.whl"
    assert first.sha256 == SHA
    assert first.size == 1234
    assert first.upload_time == dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    assert first.requires_python == ">=3.9"
    assert (first.yanked, first.yanked_reason) == (True, "broken")
    assert (first.core_metadata, first.core_metadata_sha256) == (True, META)
    assert first.provenance_url == "https://up.example/integrity/demo/1.0/x/provenance"
    assert (second.yanked, second.yanked_reason) == (True, None)
    assert (second.core_metadata, second.core_metadata_sha256) == (True, None)
    assert second.upload_time is None and second.size is None
    assert third.url == BASE + "demo-2.0-py3-none-any.whl"
    assert third.core_metadata_sha256 == META


def test_html_pages_give_every_field() -> None:
    body = f"""<!DOCTYPE html><html><head>
    <meta name="pypi:repository-version" content="1.1">
    <meta name="pypi:project-status" content="quarantined">
    <meta name="pypi:project-status-reason" content="malware">
    </head><body>
    <a href="../../files/demo-1.0.tar.gz#sha256={SHA}" data-requires-python="&gt;=3.8"
       data-yanked="bad release" data-core-metadata="sha256={META}"
       data-provenance="/integrity/p">demo-1.0.tar.gz</a>
    <a href="../../files/demo-1.1.tar.gz#sha256={SHA}" data-yanked=""
       data-dist-info-metadata="true">demo-1.1.tar.gz</a>
    <a href="../../files/demo-1.2.tar.gz#md5=abc">demo-1.2.tar.gz</a>
    <a href="javascript:alert(1)#sha256={SHA}">x</a>
    </body></html>""".encode()
    page = parse_html(body, BASE, "demo")
    assert (page.status, page.status_reason) == ("quarantined", "malware")
    assert len(page.files) == 2
    first, second = page.files
    assert first.filename == "demo-1.0.tar.gz"
    assert first.url == "https://up.example/files/demo-1.0.tar.gz"
    assert first.requires_python == ">=3.8"
    assert (first.yanked, first.yanked_reason) == (True, "bad release")
    assert first.core_metadata_sha256 == META
    assert first.provenance_url == "https://up.example/integrity/p"
    assert (second.yanked, second.yanked_reason) == (True, None)
    assert (second.core_metadata, second.core_metadata_sha256) == (True, None)
    assert "demo-1.2.tar.gz" in page.skipped


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"[]", "not a PEP 691"), (b'{"files": 3}', "not a PEP 691"), (b"not json", "Expecting")],
)
def test_json_that_is_not_a_project_page_is_refused(body: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_json(body, BASE)
