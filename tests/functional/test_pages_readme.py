"""The project page's README: rendered per content type, sanitized, and rendered only once."""

from __future__ import annotations

import re

import pytest

from stockade.web.index.readme import readme_cache
from support.builders import metadata_text, wheel_bytes, wheel_name
from support.index import Index

HOSTILE_MARKDOWN = """\
# Hostile

<script>window.__xss = 1</script>
<img src="https://example.com/a.png" onerror="window.__xss = 1">
<a href="javascript:window.__xss=1" onclick="window.__xss = 1">js link</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data link</a>
<iframe src="https://example.com/"></iframe>
<div style="position:fixed;top:0;left:0;width:100%;height:100%">cover</div>
<p class="notice" id="content">fake notice</p>

[fine](https://example.com/fine)
"""

HOSTILE_RST = """\
Hostile
=======

`js <javascript:window.__xss=1>`_ and `data <data:text/html,x>`_ and `fine <https://example.com/fine>`_
"""


def _upload_readme(index: Index, name: str, description: str, content_type: str | None) -> None:
    extra = f"Description-Content-Type: {content_type}\n" if content_type else ""
    meta = metadata_text(name, "1.0", extra=extra + "\n" + description)
    r = index.upload(wheel_bytes(name, "1.0", metadata=meta), wheel_name(name, "1.0"))
    assert r.status_code == 200, r.text


def _readme(html: str) -> str:
    """The README's part of the page."""
    assert '<div class="readme readme-' in html, html
    return html.split('<div class="readme readme-', 1)[1].split('id="files-heading"', 1)[0]


def _assert_inert(fragment: str) -> None:
    lowered = fragment.lower()
    for bad in ("<script", "<iframe", "javascript:", "data:text", "style=", "onerror", "onclick"):
        assert bad not in lowered, bad


def test_markdown_readme_is_rendered_and_inert(index: Index) -> None:
    _upload_readme(index, "hostile", HOSTILE_MARKDOWN, "text/markdown")
    html = index.client.get("/project/hostile/").text
    assert '<div class="readme readme-markdown">' in html
    readme = _readme(html)
    _assert_inert(readme)
    assert re.search(r'<h1 id="user-content-hostile">Hostile', readme)
    assert '<a href="https://example.com/fine" rel="nofollow ugc">fine</a>' in readme
    assert '<a rel="nofollow ugc">js link</a>' in readme
    # The README cannot borrow the page's classes or the skip link's target.
    assert 'class="readme-notice" id="user-content-content"' in readme
    assert html.count('id="content"') == 1


def test_rst_readme_is_rendered_and_inert(index: Index) -> None:
    _upload_readme(index, "hostile-rst", HOSTILE_RST, "text/x-rst")
    html = index.client.get("/project/hostile-rst/").text
    readme = _readme(html)
    assert '<div class="readme readme-rst">' in html
    _assert_inert(readme)
    assert '<a href="https://example.com/fine" rel="nofollow ugc">fine</a>' in readme


@pytest.mark.parametrize(
    ("content_type", "prefix"),
    [("text/plain", ""), ("text/x-rst", "Title\n=====\n\n.. raw:: html\n\n   ")],
)
def test_plain_text_and_invalid_rst_are_escaped_text(
    index: Index, content_type: str, prefix: str
) -> None:
    # reStructuredText with raw HTML does not render; PyPI then shows it as plain text.
    _upload_readme(index, "plain", prefix + "<b>not bold</b> <script>x</script>", content_type)
    html = index.client.get("/project/plain/").text
    assert '<div class="readme readme-text">' in html
    readme = _readme(html)
    assert "&lt;b&gt;not bold&lt;/b&gt;" in readme and "<b>" not in readme
    _assert_inert(readme)


def test_no_description(index: Index) -> None:
    _upload_readme(index, "bare", "", None)
    html = index.client.get("/project/bare/").text
    assert "has not provided a project description" in html
    assert 'class="readme' not in html


def test_readme_is_rendered_once_not_per_request(index: Index) -> None:
    _upload_readme(index, "cached", "# Cached\n\nHello.", "text/markdown")
    before = readme_cache.renders
    for _ in range(3):
        assert "Hello." in index.client.get("/project/cached/").text
    assert "Hello." in index.client.get("/project/cached/1.0/").text
    assert readme_cache.renders == before + 1
