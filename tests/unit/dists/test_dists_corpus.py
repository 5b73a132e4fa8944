"""inspect_distribution against the 60 real PyPI files of the shared corpus."""

from __future__ import annotations

import csv
import json
import zipfile

import pytest
from packaging.version import InvalidVersion, Version

from stockade.dists import DistError, DistInfo, inspect_distribution
from support.backend import CORPUS

DISTS = CORPUS / "dists"
MANIFEST = CORPUS / "MANIFEST.tsv"

METADATA_KEYS = {
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "license_expression",
    "license_files",
    "keywords",
    "classifiers",
    "platform",
    "home_page",
    "download_url",
    "requires_python",
    "requires_dist",
    "provides_extra",
    "project_urls",
    "dynamic",
    "requires_external",
    "provides_dist",
    "obsoletes_dist",
    "description",
    "description_content_type",
    "summary",
    "name",
    "version",
    "metadata_version",
}


def _rows() -> list[dict[str, str]]:
    with MANIFEST.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _acceptable(row: dict[str, str]) -> bool:
    try:
        Version(row["version"])
    except InvalidVersion:
        return False
    return row["filename"].endswith((".whl", ".tar.gz")) and row["metadata_version"] != "none"


ROWS = _rows()
ACCEPTED = [row for row in ROWS if _acceptable(row)]
REFUSED = [row for row in ROWS if not _acceptable(row)]


def test_corpus_partition() -> None:
    assert len(ROWS) == 60
    assert sorted(row["filename"] for row in REFUSED) == [
        "bitarray-0.8.1.tar.gz",
        "pyreadline-2.1.zip",
        "pytz-2013d.tar.bz2",
        "pytz-2013d.zip",
        "simplegeneric-0.8.1.zip",
    ]


@pytest.mark.parametrize("row", ACCEPTED, ids=[row["filename"] for row in ACCEPTED])
def test_accepted(row: dict[str, str]) -> None:
    filename = row["filename"]
    dist = inspect_distribution(DISTS / filename, filename)
    assert dist.name == row["project"]
    assert dist.normalized_name == row["normalized_name"]
    assert dist.version == row["version"]
    assert dist.metadata_version == row["metadata_version"]
    assert dist.canonical_version == str(Version(row["version"]))
    assert dist.file.filename == filename
    assert dist.file.normalized_name == row["normalized_name"]
    assert dist.file.version == Version(row["version"])

    assert set(dist.metadata) == METADATA_KEYS
    assert dist.metadata["name"] == dist.name
    assert dist.metadata["version"] == dist.version
    assert dist.metadata["requires_python"] == dist.requires_python
    assert dist.metadata["summary"] == dist.summary
    json.dumps(dist.metadata)

    if row["kind"] == "wheel":
        assert dist.file.packagetype == "bdist_wheel"
        with zipfile.ZipFile(DISTS / filename) as archive:
            (metadata_name,) = [
                name
                for name in archive.namelist()
                if name.endswith(".dist-info/METADATA") and name.count("/") == 1
            ]
            assert dist.metadata_bytes == archive.read(metadata_name)
    else:
        assert dist.file.packagetype == "sdist"
        assert dist.file.python_version == "source"
        assert dist.metadata_bytes is None


@pytest.mark.parametrize(
    ("filename", "fragment"),
    [
        ("simplegeneric-0.8.1.zip", "Invalid file extension: Use .tar.gz or .whl extension."),
        ("pyreadline-2.1.zip", "Invalid file extension: Use .tar.gz or .whl extension."),
        ("pytz-2013d.zip", "Invalid file extension"),
        ("pytz-2013d.tar.bz2", "Invalid file extension"),
        (
            "bitarray-0.8.1.tar.gz",
            "'bitarray-0.8.1.tar.gz' does not contain the required PKG-INFO file: "
            "bitarray-0.8.1/PKG-INFO",
        ),
    ],
)
def test_refused(filename: str, fragment: str) -> None:
    with pytest.raises(DistError) as info:
        inspect_distribution(DISTS / filename, filename)
    assert fragment in str(info.value)


def test_legacy_version_refused_whatever_the_extension() -> None:
    # The pytz 2013d release under an accepted extension: the version is refused.
    with pytest.raises(DistError, match=r"'2013d' is not a valid PEP 440 version"):
        inspect_distribution(DISTS / "pytz-2013d.zip", "pytz-2013d.tar.gz")


def _dist(filename: str) -> DistInfo:
    return inspect_distribution(DISTS / filename, filename)


def test_quirks() -> None:
    # Metadata-Version 2.0 (never a real spec) and PEP 345 requirements.
    efilter = _dist("efilter-1!1.3-py2-none-any.whl")
    assert efilter.metadata_version == "2.0"
    assert "pytz (>=2011k)" in efilter.metadata["requires_dist"]
    assert efilter.canonical_version == "1!1.3"
    # distutils' UNKNOWN placeholders count as absent.
    six = _dist("six-1.10.0-py2.py3-none-any.whl")
    assert six.metadata["platform"] is None
    assert _dist("entrypoints-0.2.3-py2.py3-none-any.whl").metadata["license"] is None
    # PEP 643 Dynamic fields, title-cased like PyPI stores them.
    simplejson = _dist("simplejson-3.20.1.tar.gz")
    assert "Requires-Python" in simplejson.metadata["dynamic"]
    # PEP 639.
    attrs = _dist("attrs-25.3.0-py3-none-any.whl")
    assert attrs.metadata["license_expression"] == "MIT"
    assert attrs.metadata["license_files"] == ["LICENSE"]
    assert "tests-mypy" in attrs.metadata["provides_extra"]
    assert attrs.requires_python == ">=3.8"
    # The ambiguous hyphenated sdist name.
    dateutil = _dist("python-dateutil-2.9.0.post0.tar.gz")
    assert dateutil.file.name == "python-dateutil"
    assert dateutil.file.version == Version("2.9.0.post0")
    # Non-ASCII metadata survives decoding.
    assert "👍" in _dist("emoji-2.14.1-py3-none-any.whl").metadata["description"]
    flask = _dist("flask-3.1.0-py3-none-any.whl")
    assert (flask.name, flask.file.name, flask.normalized_name) == ("Flask", "flask", "flask")
    assert flask.metadata["project_urls"]["Source"].startswith("https://")
