"""PEP 740 provenance links on the simple pages: fully qualified under the configured base URL,
relative (and still resolvable) without one."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urljoin

from stockade.index.render import (
    FileEntry,
    ProjectState,
    render_project_html,
    render_project_json,
    with_base_url,
)

LINK = "../../integrity/demo/1.0/demo-1.0-py3-none-any.whl/provenance"


def _state(yanked: bool | str = False) -> ProjectState:
    def entry(filename: str, provenance: str | None) -> FileEntry:
        return FileEntry(
            filename=filename,
            version="1.0",
            sha256="ab" * 32,
            size=10,
            upload_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            requires_python=None,
            yanked=yanked,
            metadata_sha256=None,
            provenance_url=provenance,
        )

    return ProjectState(
        name="demo",
        normalized_name="demo",
        serial=3,
        status="active",
        status_reason=None,
        versions=("1.0",),
        files=(entry("demo-1.0-py3-none-any.whl", LINK), entry("demo-1.0.tar.gz", None)),
    )


def _links(html: bytes, body: bytes) -> tuple[str, list[object]]:
    return html.decode(), [f["provenance"] for f in json.loads(body)["files"]]


def test_links_are_fully_qualified_under_the_base_url() -> None:
    # A yank reason that imitates a link is text, and stays as it was.
    state = _state(yanked='"provenance":"../../x data-provenance="../../y')
    html, body = with_base_url(
        render_project_html(state), render_project_json(state), "https://pkgs.example/pypi/"
    )
    text, links = _links(html, body)
    absolute = "https://pkgs.example/pypi/integrity/demo/1.0/demo-1.0-py3-none-any.whl/provenance"
    assert links == [absolute, None]
    assert f'data-provenance="{absolute}"' in text and text.count('data-provenance="') == 1
    assert json.loads(body)["files"][0]["yanked"] == state.files[0].yanked
    assert "data-provenance=&quot;../../y" in text
    # Same link as the relative one, resolved against the page's URL.
    assert urljoin("https://pkgs.example/pypi/simple/demo/", LINK) == absolute


def test_without_a_base_url_the_links_stay_relative() -> None:
    state = _state()
    html, body = render_project_html(state), render_project_json(state)
    assert with_base_url(html, body, "") == (html, body)
    text, links = _links(html, body)
    assert links == [LINK, None] and f'data-provenance="{LINK}"' in text
