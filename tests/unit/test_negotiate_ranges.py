"""Pure helpers of the read path: Accept negotiation and Range parsing."""

from __future__ import annotations

import pytest

from stockade.web.index.negotiate import HTML_V1, JSON_V1, negotiate
from stockade.web.index.ranges import RangeNotSatisfiable, parse_range

PIP_ACCEPT = f"{JSON_V1}, {HTML_V1}; q=0.1, text/html; q=0.01"
UV_ACCEPT = f"{JSON_V1}, {HTML_V1};q=0.2, text/html;q=0.01"


@pytest.mark.parametrize(
    ("accept", "form"),
    [
        (PIP_ACCEPT, "json"),
        (UV_ACCEPT, "json"),
        ("text/html", "html"),
        ("application/*", "json"),
        ("*/*;q=0.5, application/vnd.pypi.simple.v1+json;q=0.4", "html"),
        (f"{JSON_V1};q=abc, text/html", "html"),
        (f"{JSON_V1};q=0", "html"),
        (f"{HTML_V1}, {JSON_V1}", "json"),
    ],
)
def test_negotiate(accept: str, form: str) -> None:
    assert negotiate(accept)[0] == form


def test_format_parameter_wins() -> None:
    assert negotiate("text/html", JSON_V1) == ("json", JSON_V1)
    assert negotiate(JSON_V1, "text/html")[0] == "html"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 10)),
        ("bytes=5-", (5, 100)),
        ("bytes=-10", (90, 100)),
        ("bytes=-1000", (0, 100)),
        ("bytes=90-1000", (90, 100)),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=9-3", None),
        ("bytes=x-y", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


def test_unsatisfiable_and_if_range() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=100-", 100)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-0", 100)
    assert parse_range("bytes=0-9", 100, if_range='"old"', etag='"new"') is None
    assert parse_range("bytes=0-9", 100, if_range='"new"', etag='"new"') == (0, 10)
