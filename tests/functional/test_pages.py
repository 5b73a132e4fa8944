"""The public pages: home, search, project and release pages, 404s and redirects."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select, update

from stockade.index.models import Project, Release
from support.backend import CORPUS
from support.builders import metadata_text, sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index

RICH = CORPUS / "dists" / "rich-13.9.4-py3-none-any.whl"


def _upload(
    index: Index, name: str, version: str, summary: str = "A test package", **kw: str
) -> None:
    extra = "".join(f"{k.replace('_', '-').title()}: {v}\n" for k, v in kw.items())
    meta = metadata_text(name, version, summary=summary, extra=extra)
    r = index.upload(wheel_bytes(name, version, metadata=meta), wheel_name(name, version))
    assert r.status_code == 200, r.text


def _result_names(html: str) -> list[str]:
    block = html.split('aria-label="Search results"', 1)
    if len(block) == 1:
        return []
    return re.findall(r'<a class="name" href="/project/([^/]+)/">', block[1].split("</ul>", 1)[0])


def test_home_lists_recent_projects_newest_first(index: Index) -> None:
    _upload(index, "older", "1.0", summary="The older one")
    _upload(index, "newer", "2.0", summary="The newer one")
    html = index.client.get("/").text
    assert 'action="/search/"' in html and 'name="q"' in html
    assert html.index("/project/newer/") < html.index("/project/older/")
    assert "The newer one" in html and "2.0" in html


def test_search_ranks_exact_then_prefix_then_substring_then_summary(index: Index) -> None:
    _upload(index, "requests-toolbelt", "1.0")
    _upload(index, "Requests", "2.0")
    _upload(index, "my-requests", "1.0")
    _upload(index, "httpx", "1.0", summary="A next-generation HTTP client, like REQUESTS")
    _upload(index, "unrelated", "1.0")
    r = index.client.get("/search/?q=requests")
    assert r.status_code == 200
    assert _result_names(r.text) == ["requests", "requests-toolbelt", "my-requests", "httpx"]
    # Names are matched normalized: dots, underscores and spaces are all "-".
    assert _result_names(index.client.get("/search/?q=Requests_Toolbelt").text) == [
        "requests-toolbelt"
    ]
    assert _result_names(index.client.get("/search/?q=requests+toolbelt").text) == [
        "requests-toolbelt"
    ]
    # Summary matches are case-insensitive substrings.
    assert _result_names(index.client.get("/search/?q=next-GENERATION").text) == ["httpx"]
    assert "No projects match" in index.client.get("/search/?q=nothing-like-this").text


def test_search_wildcards_are_literal(index: Index) -> None:
    _upload(index, "pct", "1.0", summary="Handles 100% of cases")
    _upload(index, "webs", "1.0", summary="webs")
    html = index.client.get("/search/?q=100%25").text
    assert _result_names(html) == ["pct"]
    # "%" and "_" are not SQL wildcards.
    assert _result_names(index.client.get("/search/?q=0%25").text) == ["pct"]
    assert _result_names(index.client.get("/search/?q=e_s").text) == []  # "e_s" would match "webs"
    assert _result_names(index.client.get("/search/?q=w%25s").text) == []


def test_search_escapes_query_and_results(index: Index) -> None:
    _upload(index, "xss-summary", "1.0", summary="<script>window.__xss=1</script> tool")
    html = index.client.get("/search/", params={"q": "<script>"}).text
    assert _result_names(html) == ["xss-summary"]
    assert "<script>" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt; tool" in html
    assert "&lt;script&gt;" in html.split("<h2", 1)[1]  # the query in the heading, escaped
    html = index.client.get("/search/", params={"q": '"><img src=x onerror=alert(1)>'}).text
    assert "<img src=x" not in html
    assert 'value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in html


def test_search_empty_short_and_long_queries(index: Index) -> None:
    _upload(index, "a-project", "1.0")
    _upload(index, "banana", "1.0", summary="contains a")
    for path in ("/search/", "/search/?q=", "/search/?q=+++"):
        r = index.client.get(path)
        assert r.status_code == 200
        assert "Enter a project name or a word." in r.text
        assert _result_names(r.text) == []
    # One character: names starting with it only (no substring scan).
    html = index.client.get("/search/?q=a").text
    assert _result_names(html) == ["a-project"]
    assert "at least 2 characters" in html
    r = index.client.get("/search/", params={"q": "a" * 5000, "page": "x"})
    assert r.status_code == 200
    assert "a" * 101 not in r.text


def test_search_pagination(index: Index) -> None:
    for i in range(23):
        _upload(index, f"pkg{i:02d}", "1.0")
    first = index.client.get("/search/?q=pkg").text
    assert _result_names(first) == [f"pkg{i:02d}" for i in range(20)]
    assert 'href="/search/?q=pkg&amp;page=2"' in first and 'rel="prev"' not in first
    second = index.client.get("/search/?q=pkg&page=2").text
    assert _result_names(second) == ["pkg20", "pkg21", "pkg22"]
    assert 'href="/search/?q=pkg&amp;page=1"' in second and 'rel="next"' not in second
    assert _result_names(index.client.get("/search/?q=pkg&page=3").text) == []
    assert index.client.get("/search/?q=pkg&page=-4").status_code == 200


def test_quarantined_projects_are_hidden(index: Index) -> None:
    _upload(index, "hidden", "1.0")
    with index.db.write() as session:
        session.execute(update(Project).values(status="quarantined"))
    assert _result_names(index.client.get("/search/?q=hidden").text) == []
    assert "/project/hidden/" not in index.client.get("/").text
    assert index.client.get("/project/hidden/").status_code == 404


def test_project_page_for_a_real_wheel(index: Index) -> None:
    r = index.upload(RICH)
    assert r.status_code == 200, r.text
    index.user("bob")
    page = index.client.get("/project/rich/")
    assert page.status_code == 200
    html = page.text
    assert "<h1>rich 13.9.4" in html
    assert "Render rich text, tables, progress bars" in html
    assert "<code>pip install --index-url http://testserver/simple/ rich</code>" in html
    # The Markdown README, rendered.
    assert '<div class="readme readme-markdown">' in html
    assert re.search(
        r'<img src="https://github.com/textualize/rich/raw/master/imgs/logo.svg"', html
    )
    assert (
        '<a href="https://github.com/textualize/rich/blob/master/README.md" rel="nofollow ugc">'
        in html
    )
    # File listing with its hash, size, type and Python tag.
    sha = hashlib.sha256(RICH.read_bytes()).hexdigest()
    assert f"<code>{sha}</code>" in html
    assert f'href="/packages/{sha[:2]}/{sha[2:4]}/{sha[4:]}/rich-13.9.4-py3-none-any.whl"' in html
    assert "<td>Wheel</td>" in html and "<td>py3" in html
    assert '<td class="num">236.7 kB</td>' in html
    # Sidebar: links, license, requires-python, author, maintainers, classifiers, dependencies.
    assert (
        '<a href="https://github.com/Textualize/rich" rel="nofollow ugc noopener">Homepage</a>'
        in html
    )
    docs = "https://rich.readthedocs.io/en/latest/"
    assert f'<a href="{docs}" rel="nofollow ugc noopener">Documentation</a>' in html
    assert "<dt>License</dt><dd>MIT</dd>" in html
    assert "Python &gt;=3.8.0" in html
    assert "Will McGugan" in html
    assert 'alice <span class="badge owner">Owner</span>' in html
    assert "bob" not in html.split("Maintainers", 1)[1].split("</ul>", 1)[0]
    assert "<dt>Programming Language</dt>" in html and "<dd>Python :: 3.13</dd>" in html
    assert "<code>markdown-it-py (&gt;=2.2.0)</code>" in html


def _three_releases(index: Index) -> None:
    _upload(index, "demo", "1.0", summary="First")
    r = index.upload(sdist_bytes("demo", "1.0"), sdist_name("demo", "1.0"))
    assert r.status_code == 200, r.text
    _upload(index, "demo", "2.0", summary="Second")
    _upload(index, "demo", "3.0rc1", summary="Candidate")


def test_release_history_yanked_and_version_pages(index: Index) -> None:
    _three_releases(index)
    with index.db.write() as session:
        session.execute(
            update(Release)
            .where(Release.version == "2.0")
            .values(yanked=True, yanked_reason="broken")
        )
    html = index.client.get("/project/demo/").text
    # Latest is the newest non-yanked final release: 1.0.
    assert (
        "<h1>demo 1.0" in html
        and "<code>pip install --index-url http://testserver/simple/ demo</code>" in html
    )
    history = html.split('id="history-heading"', 1)[1]
    assert history.index(">3.0rc1<") < history.index(">2.0<") < history.index(">1.0<")
    assert '<span class="badge yanked">Yanked</span> <span class="yanked">broken</span>' in history
    assert '<a href="/project/demo/1.0/" aria-current="page">1.0</a>' in history
    assert "demo-1.0.tar.gz" in html and "<td>Source</td>" in html
    # A version page: its own files, the pin, the yank notice.
    html = index.client.get("/project/demo/2.0/").text
    assert (
        "<h1>demo 2.0" in html
        and "<code>pip install --index-url http://testserver/simple/ demo==2.0</code>" in html
    )
    assert "This release has been yanked." in html and "Reason: broken" in html
    assert "demo-2.0-py3-none-any.whl" in html and "demo-1.0.tar.gz" not in html
    html = index.client.get("/project/demo/3.0rc1/").text
    assert "This is not the latest release." in html and "Pre-release" in html


def test_redirects_and_404s(index: Index) -> None:
    _three_releases(index)
    r = index.client.get("/project/Demo/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (301, "/project/demo/")
    r = index.client.get("/project/DEMO/2.0/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (301, "/project/demo/2.0/")
    r = index.client.get("/project/demo/2.0.0/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (301, "/project/demo/2.0/")
    missing = index.client.get("/project/nope/")
    assert missing.status_code == 404
    assert "There is no project named <code>nope</code>" in missing.text
    assert "<main" in missing.text  # the site's layout, not a bare error
    missing = index.client.get("/project/demo/9.9/")
    assert missing.status_code == 404
    assert "has no release <code>9.9</code>" in missing.text
    assert index.client.get("/project/demo/not a version/").status_code == 404
    missing = index.client.get("/project/nope/1.0/")
    assert missing.status_code == 404
    assert "There is no project named <code>nope</code>" in missing.text


def test_project_links_only_http(index: Index) -> None:
    _upload(index, "links", "1.0", home_page="https://example.com/home")
    # Upload validation refuses such URLs today; the page must not depend on it.
    with index.db.write() as session:
        release = session.scalars(select(Release)).one()
        release.metadata_json = {
            **release.metadata_json,
            "project_urls": {
                "Source": "https://example.com/src",
                "Evil": "javascript:window.__xss=1",
                "Data": "data:text/html,<script>x</script>",
                "Chat": "ftp://example.com/x",
            },
        }
    html = index.client.get("/project/links/").text
    assert '<a href="https://example.com/src" rel="nofollow ugc noopener">Source</a>' in html
    assert '<a href="https://example.com/home" rel="nofollow ugc noopener">Homepage</a>' in html
    for bad in ("javascript:", "data:text", "ftp://", ">Evil<", ">Chat<"):
        assert bad not in html


def test_pages_have_landmarks_and_labels(index: Index) -> None:
    _upload(index, "demo", "1.0")
    for path in ("/", "/search/?q=demo", "/project/demo/", "/project/nope/"):
        html = index.client.get(path).text
        assert '<a class="skip-link" href="#content">' in html
        assert '<main id="content"' in html and 'role="search"' in html
        for input_id in re.findall(r'<input id="([^"]+)"', html):
            assert f'<label for="{input_id}"' in html, (path, input_id)
        assert html.count("<h1") == 1, path
