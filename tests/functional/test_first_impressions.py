"""What a new user meets first (issue 16): HEAD answers, PyPI's ``project_urls``, PEP 753
labels, the 404 page for browsers, the favicon, authors, the install line."""

from __future__ import annotations

import struct

import pytest

from support.builders import metadata_text, wheel_bytes, wheel_name
from support.index import Index, login_client

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _upload(index: Index, name: str, version: str, extra: str) -> None:
    meta = metadata_text(name, version, extra=extra)
    r = index.upload(wheel_bytes(name, version, metadata=meta), wheel_name(name, version))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "path",
    [
        "/pypi/demo/json",
        "/pypi/demo/1.0/json",
        "/project/demo/",
        "/project/demo/1.0/",
        "/",
        "/stats/",
    ],
)
def test_head_answers_wherever_get_does(index: Index, path: str) -> None:
    _upload(index, "demo", "1.0", "")
    got = index.client.get(path)
    head = index.client.head(path)
    assert got.status_code == 200 and head.status_code == 200, (got.status_code, head.status_code)
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))


def test_head_of_a_missing_project_is_404(index: Index) -> None:
    assert index.client.head("/pypi/nothing/json").status_code == 404
    assert index.client.head("/project/nothing/").status_code == 404


def test_project_urls_carry_homepage_and_download_as_pypi_does(index: Index) -> None:
    _upload(
        index,
        "demo",
        "1.0",
        "Home-page: https://example.test/home\nDownload-URL: https://example.test/dl\n"
        "Project-URL: Source, https://example.test/src\n",
    )
    info = index.client.get("/pypi/demo/json").json()["info"]
    assert info["project_urls"] == {
        "Homepage": "https://example.test/home",
        "Download": "https://example.test/dl",
        "Source": "https://example.test/src",
    }
    assert list(info["project_urls"]) == ["Homepage", "Download", "Source"]
    assert info["home_page"] == "https://example.test/home"
    # A Project-URL with the same label wins, as on PyPI; none at all stays null.
    _upload(
        index,
        "other",
        "1.0",
        "Home-page: https://example.test/old\nProject-URL: Homepage, https://example.test/new\n",
    )
    other = index.client.get("/pypi/other/1.0/json").json()["info"]
    assert other["project_urls"] == {"Homepage": "https://example.test/new"}
    _upload(index, "bare", "1.0", "")
    assert index.client.get("/pypi/bare/json").json()["info"]["project_urls"] is None


def test_project_page_normalizes_well_known_url_labels(index: Index) -> None:
    _upload(
        index,
        "demo",
        "1.0",
        "Project-URL: Source Code, https://example.test/src\n"
        "Project-URL: bug-tracker, https://example.test/issues\n"
        "Project-URL: What's New?, https://example.test/changes\n"
        "Project-URL: Docs, https://example.test/docs\n"
        "Project-URL: Chat Room, https://example.test/chat\n",
    )
    html = index.client.get("/project/demo/").text
    links = html.split('<ul class="links">', 1)[1].split("</ul>", 1)[0]
    for label, url in [
        ("Source", "https://example.test/src"),
        ("Issues", "https://example.test/issues"),
        ("Changelog", "https://example.test/changes"),
        ("Documentation", "https://example.test/docs"),
        ("Chat Room", "https://example.test/chat"),
    ]:
        assert f'<a href="{url}" rel="nofollow ugc noopener">{label}</a>' in links
    # The JSON API keeps the labels exactly as given, as PyPI does.
    urls = index.client.get("/pypi/demo/json").json()["info"]["project_urls"]
    assert "Source Code" in urls and "bug-tracker" in urls


def test_unknown_paths_answer_browsers_with_the_404_page_and_programs_with_json(
    index: Index,
) -> None:
    for path in ("/no/such/page", "/stats/nothing", "/nothing.html"):
        r = index.client.get(path, headers=BROWSER)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "<h1>Not found (404)</h1>" in r.text
    # A program (no text/html in Accept) and the APIs keep JSON, even for a browser.
    assert index.client.get("/no/such/page").json() == {"detail": "Not Found"}
    for path in ("/pypi/nothing/json", "/api/nothing", "/_/oidc/nothing", "/v1/nothing"):
        r = index.client.get(path, headers=BROWSER)
        assert r.status_code == 404 and r.headers["content-type"] == "application/json", path


def test_favicon_is_an_icon(index: Index) -> None:
    r = index.client.get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/vnd.microsoft.icon"
    reserved, kind, count = struct.unpack("<HHH", r.content[:6])
    assert (reserved, kind, count) == (0, 1, 1)
    width, height, *_rest, size, offset = struct.unpack("<BBBBHHII", r.content[6:22])
    assert (width, height) == (32, 32)
    assert r.content[offset : offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + size == len(
        r.content
    )
    assert '<link rel="icon" href="/favicon.ico"' in index.client.get("/").text


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        # PEP 621 (hatchling, setuptools, flit …): the name inside the address field.
        (
            "Author-email: Ada Lovelace <ada@example.org>\n",
            'Ada Lovelace <span class="muted">&lt;<a href="mailto:ada@example.org">'
            "ada@example.org</a>&gt;</span>",
        ),
        # The old way: a name and a bare address apart.
        (
            "Author: Ada Lovelace\nAuthor-email: ada@example.org\n",
            'Ada Lovelace <span class="muted">&lt;<a href="mailto:ada@example.org">'
            "ada@example.org</a>&gt;</span>",
        ),
        ("Author: Ada Lovelace\n", "Ada Lovelace"),
        (
            'Author-email: "Lovelace, Ada" <ada@example.org>, Bob <bob@example.org>\n',
            "Lovelace, Ada <span",
        ),
    ],
)
def test_authors_are_shown_with_one_pair_of_brackets(index: Index, fields: str, shown: str) -> None:
    _upload(index, "demo", "1.0", fields)
    html = index.client.get("/project/demo/").text
    author = html.split("<dt>Author</dt>", 1)[1].split("</dd>", 1)[0]
    assert shown in author
    assert "&lt;&lt;" not in author and "&gt;&gt;" not in author
    assert author.count("&lt;") == fields.count("@")


def test_install_line_names_this_index(index: Index) -> None:
    _upload(index, "demo", "1.0", "")
    _upload(index, "demo", "2.0", "")
    html = index.client.get("/project/demo/").text
    assert "<code>pip install --index-url http://testserver/simple/ demo</code>" in html
    older = index.client.get("/project/demo/1.0/").text
    assert "<code>pip install --index-url http://testserver/simple/ demo==1.0</code>" in older


def test_release_management_shows_sizes_people_read(index: Index) -> None:
    payload = bytes(range(256)) * 40  # does not compress: the wheel is a few kB
    wheel = wheel_bytes("demo", "1.0", files={"demo/blob.bin": payload})
    assert index.upload(wheel, wheel_name("demo", "1.0")).status_code == 200
    html = login_client(index, "alice").get("/manage/project/demo/releases/").text
    shown = f"{len(wheel) / 1024:.1f} kB"
    assert f'<span title="{len(wheel):,} bytes">{shown}</span>' in html
    assert f"<td>{len(wheel)}</td>" not in html
