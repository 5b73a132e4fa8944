"""A release's description (its README) rendered to safe HTML, once per release.

readme-renderer turns Markdown, reStructuredText or plain text into HTML and already cleans it
with nh3. The result is cleaned a second time here with a stricter policy of our own, so the page
does not depend on readme-renderer's defaults staying strict:

- no scripts, styles, iframes, forms, objects or event-handler attributes (nh3 allows none);
- links and images only to ``http``, ``https`` and ``mailto`` (and relative URLs), so
  ``javascript:``, ``data:`` and ``vbscript:`` links lose their ``href``;
- every link gets ``rel="nofollow ugc"`` (user-generated content, as on PyPI);
- ``id`` and ``class`` values are prefixed so a README can neither take over the page's own
  anchors (the skip link's target) nor borrow the site's CSS classes to fake notices;
- ``<input>`` is only ever a disabled checkbox (GitHub task lists).

Rendering is slow (docutils takes tens of milliseconds), so each result is kept in a small
in-process LRU keyed by the release id and a digest of the source: a README is rendered once per
worker process, not on every request.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import nh3
from markupsafe import Markup
from readme_renderer.clean import ALLOWED_ATTRIBUTES, ALLOWED_TAGS

from stockade.dists.readme import render_description

__all__ = [
    "CLASS_PREFIX",
    "ID_PREFIX",
    "ReadmeCache",
    "RenderedReadme",
    "readme_cache",
    "render_readme",
    "rendered_for_release",
    "sanitize",
]

ID_PREFIX = "user-content-"
CLASS_PREFIX = "readme-"
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc"

_TAGS = set(ALLOWED_TAGS)
# ``type`` on <input> is restricted to "checkbox" below (tag_attribute_values), so it must not
# also be a free attribute.
_ATTRIBUTES = {tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["input"] = {"checked"}
_INPUT_VALUES = {"input": {"type": {"checkbox"}}}
_FORCED_VALUES = {"input": {"disabled": "disabled"}}


@dataclass(frozen=True)
class RenderedReadme:
    """The safe HTML of a README and how it was rendered."""

    html: Markup
    # "markdown", "rst" or "text": the renderer that produced ``html``.
    kind: str


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "id":
        return value if value.startswith(ID_PREFIX) else ID_PREFIX + value
    if attribute == "class":
        classes = [c if c.startswith(CLASS_PREFIX) else CLASS_PREFIX + c for c in value.split()]
        return " ".join(classes) or None
    if attribute == "href" and value.startswith("#") and len(value) > 1:
        fragment = value[1:]
        return value if fragment.startswith(ID_PREFIX) else f"#{ID_PREFIX}{fragment}"
    return value


def sanitize(html: str) -> Markup:
    """Clean rendered HTML with our policy; the result is safe to put into a page as is."""
    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        link_rel=LINK_REL,
        url_schemes=set(URL_SCHEMES),
        tag_attribute_values=_INPUT_VALUES,
        set_tag_attribute_values=_FORCED_VALUES,
        strip_comments=True,
    )
    return Markup(cleaned)  # noqa: S704 - the output of nh3 with the policy above is safe


def render_readme(description: str, content_type: str | None) -> RenderedReadme:
    """Render a description as its content type says (PyPI's rules, see
    :func:`stockade.dists.readme.render_description`) and clean it with our policy."""
    html, kind = render_description(description, content_type)
    return RenderedReadme(sanitize(html), kind)


class ReadmeCache:
    """A thread-safe LRU of rendered READMEs, bounded by entries and by total size."""

    def __init__(self, max_entries: int = 512, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[int, str], RenderedReadme] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.renders = 0

    def get(self, release_id: int, description: str, content_type: str | None) -> RenderedReadme:
        """The rendered README of this release, rendering it only on a miss."""
        source = f"{content_type or ''}\0{description}".encode("utf-8", "surrogatepass")
        key = (release_id, hashlib.sha256(source).hexdigest())
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        # Render outside the lock: two threads may race to render the same README once each,
        # which is harmless and never blocks other pages behind a slow render.
        rendered = render_readme(description, content_type)
        with self._lock:
            self.renders += 1
            if key not in self._items:
                self._items[key] = rendered
                self._bytes += len(rendered.html)
            while self._items and (
                len(self._items) > self.max_entries or self._bytes > self.max_bytes
            ):
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old.html)
        return rendered

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


# One per worker process: each renders a README at most once while it stays in the cache.
readme_cache = ReadmeCache()


def rendered_for_release(
    release_id: int, description: str, content_type: str | None
) -> RenderedReadme:
    """The release's README from this process's cache (rendered on first use)."""
    return readme_cache.get(release_id, description, content_type)
