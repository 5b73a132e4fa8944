"""README rendering: each markup language, and every way a README could smuggle in script."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from stockade.web.index.readme import ReadmeCache, render_readme, sanitize

ATTACKS = {
    "script": "<script>window.__xss = 1</script>",
    "handler": '<img src="https://example.com/a.png" onerror="window.__xss = 1">',
    "click": '<a href="https://example.com/" onclick="window.__xss = 1">x</a>',
    "javascript": '<a href="javascript:window.__xss=1">x</a>',
    "javascript-mixed-case": '<a href=" JaVaScRiPt:window.__xss=1">x</a>',
    "javascript-entity": '<a href="jav&#x09;ascript:window.__xss=1">x</a>',
    "data-link": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "vbscript": '<a href="vbscript:msgbox(1)">x</a>',
    "iframe": '<iframe src="https://example.com/"></iframe>',
    "iframe-srcdoc": '<iframe srcdoc="&lt;script&gt;parent.__xss=1&lt;/script&gt;"></iframe>',
    "object": '<object data="https://example.com/x.swf"></object><embed src="x.swf">',
    "svg": '<svg onload="window.__xss=1"><script>window.__xss=1</script></svg>',
    "style-tag": "<style>body { display: none }</style>",
    "style-attr": '<div style="position: fixed; inset: 0; background: red">cover</div>',
    "form": '<form action="/account/logout/" method="post"><button>Go</button></form>',
    "meta": '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "base": '<base href="https://evil.example/">',
    "input-text": '<input type="text" name="password" autofocus onfocus="window.__xss=1">',
    "formaction": '<button formaction="javascript:window.__xss=1">b</button>',
    "link": '<link rel="stylesheet" href="https://evil.example/x.css">',
}


FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "style",
    "svg",
    "form",
    "meta",
    "base",
    "link",
    "button",
    "textarea",
    "select",
    "frame",
    "frameset",
    "math",
    "template",
}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _inert(html: str) -> None:
    """Parse the HTML as a browser would see its tags: nothing that runs, loads or submits."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag not in FORBIDDEN_TAGS, (tag, html)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, html)
            assert name not in {"style", "srcdoc", "formaction", "action"}, (tag, name, html)
            if name in {"href", "src"}:
                scheme = urlsplit((value or "").strip()).scheme.lower()
                assert scheme in {"", "http", "https", "mailto"}, (tag, value, html)
        if tag == "input":
            assert attrs.get("type") in (None, "checkbox") and "disabled" in attrs, attrs


@pytest.mark.parametrize("content_type", ["text/markdown", "text/markdown; variant=CommonMark"])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_markdown_attacks_are_inert(attack: str, content_type: str) -> None:
    source = f"# Title\n\nSome text.\n\n{ATTACKS[attack]}\n\nMore [text](https://example.com/).\n"
    html = render_readme(source, content_type).html
    _inert(html)
    assert 'href="https://example.com/"' in html


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_sanitize_alone_makes_raw_html_inert(attack: str) -> None:
    _inert(sanitize(f"<p>before</p>{ATTACKS[attack]}<p>after</p>"))


def test_rst_links_and_raw_html() -> None:
    source = (
        "Title\n=====\n\n"
        "`bad <javascript:window.__xss=1>`_ and `data <data:text/html,x>`_ and "
        "`good <https://example.com/>`_\n\nSee Title_.\n"
    )
    rendered = render_readme(source, "text/x-rst")
    assert rendered.kind == "rst"
    _inert(rendered.html)
    assert '<a href="https://example.com/" rel="nofollow ugc">good</a>' in rendered.html
    # Section anchors are namespaced, and links to them follow.
    assert 'id="user-content-title"' in rendered.html
    assert 'href="#user-content-title"' in rendered.html
    # raw:: html is disabled: the whole README falls back to escaped plain text, as on PyPI.
    raw = render_readme("Hi\n\n.. raw:: html\n\n   <script>window.__xss=1</script>\n", None)
    assert raw.kind == "text"
    assert "&lt;script&gt;" in raw.html and "<script" not in raw.html


def test_plain_text_is_escaped() -> None:
    rendered = render_readme("<b>bold</b> & <script>x</script>\nline two", "text/plain")
    assert rendered.kind == "text"
    assert (
        rendered.html == "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;x&lt;/script&gt;<br>line two"
    )


def test_missing_content_type_is_rst_and_unknown_is_text() -> None:
    assert render_readme("*emphasis*", None).html.strip() == "<p><em>emphasis</em></p>"
    assert render_readme("*emphasis*", "text/html").kind == "text"


def test_markdown_features_and_link_rel() -> None:
    source = (
        "# Hello\n\n[site](https://example.com/) <https://example.org/>\n\n"
        "- [x] done\n- [ ] todo\n\n```python\ndef f():\n    return 1\n```\n\n"
        '| a | b |\n|---|---|\n| 1 | 2 |\n\n<div class="notice error" id="content">fake</div>\n'
    )
    html = render_readme(source, "text/markdown").html
    assert re.search(r"<h1[^>]*>Hello", html)
    assert '<a href="https://example.com/" rel="nofollow ugc">site</a>' in html
    assert html.count('rel="nofollow ugc"') == html.count("<a ")
    assert "<table>" in html and "<td>1</td>" in html
    assert '<input type="checkbox" checked="" disabled="disabled">' in html
    assert 'class="readme-' in html  # highlighted code keeps its (prefixed) classes
    # A README can neither borrow the site's CSS classes nor take its ids.
    assert 'class="readme-notice readme-error"' in html
    assert 'id="user-content-content"' in html
    assert 'id="content"' not in html


def test_cache_renders_once_per_release_and_source() -> None:
    cache = ReadmeCache(max_entries=2)
    first = cache.get(1, "# One", "text/markdown")
    assert cache.get(1, "# One", "text/markdown") is first
    assert cache.renders == 1
    cache.get(1, "# One, changed", "text/markdown")  # same id, new source: rendered again
    cache.get(2, "# Two", "text/markdown")
    assert cache.renders == 3
    assert len(cache) == 2  # bounded: the oldest entry went
    cache.get(1, "# One", "text/markdown")
    assert cache.renders == 4


def test_cache_is_bounded_by_size() -> None:
    cache = ReadmeCache(max_entries=100, max_bytes=200)
    for release_id in range(5):
        cache.get(release_id, "word " * 30, "text/plain")
    assert len(cache) == 1
