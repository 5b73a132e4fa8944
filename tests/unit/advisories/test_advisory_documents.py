"""Reading one OSV document, JSON or PyPA YAML: what is kept, what is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from stockade.advisories.osv import AdvisoryError, load, parse_document

YAML = b"""
id: PYSEC-2099-1
modified: 2099-01-02T03:04:05.123456789Z
published: 2099-01-01T00:00:00Z
aliases: [CVE-2099-1, GHSA-aaaa-bbbb-cccc]
summary: Demo
affected:
- package: {name: Demo_Pkg, ecosystem: PyPI, purl: pkg:pypi/demo-pkg}
  ranges:
  - type: GIT
    repo: https://example.test/demo
    events: [{introduced: "0"}, {fixed: abcdef}]
  - type: ECOSYSTEM
    events: [{introduced: "0"}, {fixed: "1.2"}]
  versions: ["1.0", "1.1"]
- package: {name: demo, ecosystem: npm}
  versions: ["1.0"]
"""


def test_yaml_document() -> None:
    record = parse_document(load(YAML, "PYSEC-2099-1.yaml"))
    assert record.osv_id == "PYSEC-2099-1"
    # Nanoseconds are cut to microseconds; YAML's own timestamps become RFC 3339 strings.
    assert record.modified == dt.datetime(2099, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    assert record.document["published"] == "2099-01-01T00:00:00Z"
    assert record.document["modified"] == "2099-01-02T03:04:05.123456Z"
    assert record.aliases == ("CVE-2099-1", "GHSA-aaaa-bbbb-cccc")
    [package] = record.packages  # the npm package is not ours; the GIT range is not read
    assert package.normalized_name == "demo-pkg"
    assert package.versions == ("1.0", "1.1")
    assert package.ranges_json() == [[{"introduced": "0"}, {"fixed": "1.2"}]]


def test_same_document_same_digest() -> None:
    a = parse_document(load(YAML, "a.yaml"))
    b = parse_document(load(YAML, "b.yaml"))
    assert a.digest == b.digest


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"{", "x.json", "not valid JSON or YAML"),
        (b"- a list", "x.yaml", "must be a mapping"),
        (b'{"id": "../etc", "modified": "2020-01-01T00:00:00Z"}', "x.json", "OSV identifier"),
        (b'{"id": "PYSEC-1"}', "x.json", "modified is required"),
        (b'{"id": "PYSEC-1", "modified": "yesterday"}', "x.json", "not an RFC 3339 timestamp"),
        (
            b'{"id": "PYSEC-1", "modified": "2020-01-01T00:00:00Z", "affected": [{"package": '
            b'{"name": "", "ecosystem": "PyPI"}}]}',
            "x.json",
            "package.name must be a non-empty string",
        ),
        (
            b'{"id": "PYSEC-1", "modified": "2020-01-01T00:00:00Z", "aliases": "CVE-1"}',
            "x.json",
            "aliases must be a list of strings",
        ),
    ],
)
def test_refused(data: bytes, name: str, message: str) -> None:
    with pytest.raises(AdvisoryError, match=message):
        parse_document(load(data, name))
