"""Matching a version against an OSV ``affected`` entry: inside, at the edge of, and outside each
kind of range, with PEP 440 comparison."""

from __future__ import annotations

import pytest

from stockade.advisories.ranges import affects, canonical_versions, fixed_versions

INTRODUCED_FIXED = [[{"introduced": "1.0"}, {"fixed": "1.5"}]]
FROM_ZERO_LAST_AFFECTED = [[{"introduced": "0"}, {"last_affected": "2.0"}]]
LIMITED = [[{"introduced": "1.0"}, {"limit": "3.0"}]]
TWO_WINDOWS = [[{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"fixed": "2.3"}]]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.9", False),  # below introduced
        ("1.0", True),  # introduced is affected (edge)
        ("1.0.0", True),  # the same version spelled otherwise
        ("1.4.9", True),
        ("1.5rc1", True),  # a pre-release of the fix is not the fix
        ("1.5", False),  # fixed is not affected (edge)
        ("1.5.0.post1", False),
        ("3.0", False),
    ],
)
def test_introduced_and_fixed(version: str, expected: bool) -> None:
    assert affects(version, [], INTRODUCED_FIXED) is expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.0.1", True), ("2.0", True), ("2.0.post1", False), ("2.0.1", False), ("10", False)],
)
def test_introduced_zero_and_last_affected(version: str, expected: bool) -> None:
    assert affects(version, [], FROM_ZERO_LAST_AFFECTED) is expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.5", False), ("1.0", True), ("2.9.9", True), ("3.0", False), ("4.0", False)],
)
def test_limit(version: str, expected: bool) -> None:
    assert affects(version, [], LIMITED) is expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.1", True), ("1.2", False), ("1.9", False), ("2.0", True), ("2.2.9", True), ("2.3", False)],
)
def test_reintroduced(version: str, expected: bool) -> None:
    assert affects(version, [], TWO_WINDOWS) is expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [("2013d", True), ("2013e", False), ("1.0", True), ("1.0.0", True), ("1.0.1", False)],
)
def test_versions_list(version: str, expected: bool) -> None:
    # Listed versions match exactly, legacy (non PEP 440) ones too; ranges cannot hold them.
    assert affects(version, canonical_versions(["2013d", "1.0"]), []) is expected


def test_legacy_version_is_outside_every_range() -> None:
    assert affects("2013d", [], [[{"introduced": "0"}]]) is False


def test_unparsable_events_are_ignored_and_fixed_in_is_sorted() -> None:
    ranges = [
        [{"introduced": "0"}, {"fixed": "not-a-version!"}],
        [{"fixed": "1.10"}, {"fixed": "1.9"}],
    ]
    assert affects("5.0", [], ranges) is True
    assert fixed_versions(ranges) == ["1.9", "1.10", "not-a-version!"]
