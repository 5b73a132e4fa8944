"""The legacy JSON API with PyPI's fields."""

from __future__ import annotations

from support.builders import metadata_text, sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index

INFO_KEYS = {
    "author",
    "author_email",
    "bugtrack_url",
    "classifiers",
    "description",
    "description_content_type",
    "docs_url",
    "download_url",
    "downloads",
    "dynamic",
    "home_page",
    "keywords",
    "license",
    "license_expression",
    "license_files",
    "maintainer",
    "maintainer_email",
    "name",
    "package_url",
    "platform",
    "project_url",
    "project_urls",
    "provides_extra",
    "release_url",
    "requires_dist",
    "requires_python",
    "summary",
    "version",
    "yanked",
    "yanked_reason",
}
FILE_KEYS = {
    "comment_text",
    "digests",
    "downloads",
    "filename",
    "has_sig",
    "md5_digest",
    "packagetype",
    "python_version",
    "requires_python",
    "size",
    "upload_time",
    "upload_time_iso_8601",
    "url",
    "yanked",
    "yanked_reason",
}


def _load(index: Index) -> None:
    meta = metadata_text(
        "Demo",
        "1.0",
        extra="Requires-Dist: requests>=2\nProject-URL: Source, https://example.test/src\n"
        "Classifier: Programming Language :: Python :: 3\nAuthor: Ada\n",
    )
    assert (
        index.upload(
            wheel_bytes("Demo", "1.0", metadata=meta), wheel_name("demo", "1.0")
        ).status_code
        == 200
    )
    assert index.upload(sdist_bytes("demo", "1.0"), sdist_name("demo", "1.0")).status_code == 200
    assert (
        index.upload(wheel_bytes("demo", "2.0b1"), wheel_name("demo", "2.0b1")).status_code == 200
    )


def test_project_json(index: Index) -> None:
    _load(index)
    r = index.client.get("/pypi/demo/json")
    assert r.status_code == 200
    doc = r.json()
    # No advisories were ever imported: no "vulnerabilities", which would claim "none known".
    assert set(doc) == {"info", "last_serial", "releases", "urls"}
    assert int(r.headers["x-pypi-last-serial"]) == doc["last_serial"]
    info = doc["info"]
    assert set(info) >= INFO_KEYS
    # The newest final release, not the pre-release, is "latest".
    assert info["version"] == "1.0"
    assert info["name"] == "Demo"
    assert info["requires_dist"] == ["requests>=2"]
    assert info["project_urls"] == {"Source": "https://example.test/src"}
    assert info["author"] == "Ada"
    assert list(doc["releases"]) == ["1.0", "2.0b1"]
    assert {f["packagetype"] for f in doc["urls"]} == {"bdist_wheel", "sdist"}
    for f in doc["urls"]:
        assert set(f) >= FILE_KEYS
        assert f["url"].startswith("http://testserver/packages/")
        assert index.client.get(f["url"]).status_code == 200
        assert set(f["digests"]) == {"blake2b_256", "md5", "sha256"}


def test_release_json_and_redirects(index: Index) -> None:
    _load(index)
    doc = index.client.get("/pypi/demo/2.0b1/json").json()
    assert doc["info"]["version"] == "2.0b1"
    assert "releases" not in doc
    assert [f["filename"] for f in doc["urls"]] == ["demo-2.0b1-py3-none-any.whl"]
    r = index.client.get("/pypi/Demo/json", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (301, "/pypi/demo/json")
    assert index.client.get("/pypi/demo/9.9/json").status_code == 404
    assert index.client.get("/pypi/nope/json").status_code == 404


def test_project_page(index: Index) -> None:
    _load(index)
    html = index.client.get("/project/demo/").text
    assert "Demo 1.0" in html
    assert "demo-1.0-py3-none-any.whl" in html
    assert index.client.get("/project/nope/").status_code == 404
    assert index.client.get("/_health/").status_code == 200
    assert "demo" in index.client.get("/").text


def test_description_is_escaped(index: Index) -> None:
    meta = metadata_text("xss", "1.0", extra="\n<script>alert(1)</script>\n")
    assert (
        index.upload(wheel_bytes("xss", "1.0", metadata=meta), wheel_name("xss", "1.0")).status_code
        == 200
    )
    html = index.client.get("/project/xss/").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
