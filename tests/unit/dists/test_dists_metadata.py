"""Metadata validation and the metadata/filename identity checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from stockade.dists import ACCEPTED_METADATA_VERSIONS, DistInfo, inspect_distribution

if TYPE_CHECKING:
    from unit.dists.conftest import Kit, Write

WHEEL = "demo-1.0-py3-none-any.whl"
SDIST = "demo-1.0.tar.gz"


def _wheel_error(kit: type[Kit], write: Write, *fragments: str, **metadata: Any) -> None:
    data = kit.wheel_bytes(metadata=kit.metadata_text(**metadata))
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, data), WHEEL), *fragments)


def _wheel(kit: type[Kit], write: Write, **metadata: Any) -> DistInfo:
    data = kit.wheel_bytes(metadata=kit.metadata_text(**metadata))
    return inspect_distribution(write(WHEEL, data), WHEEL)


def test_name_mismatch(kit: type[Kit], write: Write) -> None:
    _wheel_error(
        kit, write, "Start filename for 'Other.Project' with 'other_project'.", name="Other.Project"
    )
    data = kit.sdist_bytes(pkg_info=kit.metadata_text(name="other"))
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, data), SDIST), "Start filename for 'other'"
    )


def test_name_spelling_may_differ(kit: type[Kit], write: Write) -> None:
    dist = _wheel(kit, write, name="Demo")
    assert (dist.name, dist.normalized_name, dist.file.name) == ("Demo", "demo", "demo")


def test_version_mismatch(kit: type[Kit], write: Write) -> None:
    _wheel_error(kit, write, "Version in filename should be '1.1' not '1.0'.", version="1.1")
    data = kit.sdist_bytes(pkg_info=kit.metadata_text(version="2.0"))
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, data), SDIST),
        "Version in filename should be '2.0' not '1.0'.",
    )


def test_version_spelling_may_differ(kit: type[Kit], write: Write) -> None:
    dist = _wheel(kit, write, version="1.0.0")  # equal as PEP 440 versions
    assert (dist.version, dist.canonical_version) == ("1.0.0", "1.0.0")
    dist = _wheel(kit, write, version="v1.00")
    assert (dist.version, dist.canonical_version) == ("v1.00", "1.0")


def test_local_version_in_metadata(kit: type[Kit], write: Write) -> None:
    _wheel_error(
        kit, write, "The use of local versions in '1.0+local' is not allowed", version="1.0+local"
    )


def test_hyphenated_post_release_sdist(kit: type[Kit], write: Write) -> None:
    data = kit.sdist_bytes(pkg_info=kit.metadata_text(version="1.0.post1"), top="demo-1.0-1")
    dist = inspect_distribution(write("demo-1.0-1.tar.gz", data), "demo-1.0-1.tar.gz")
    assert (dist.file.name, dist.file.version, dist.version) == (
        "demo",
        dist.file.version,
        "1.0.post1",
    )
    assert str(dist.file.version) == "1.0.post1"


def test_missing_wheel_and_metadata_files(kit: type[Kit], write: Write) -> None:
    data = kit.wheel_bytes(wheel=None)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL),
        f"Wheel '{WHEEL}' does not contain the required WHEEL file: demo-1.0.dist-info/WHEEL",
    )
    data = kit.wheel_bytes(with_metadata=False)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL),
        f"Wheel '{WHEEL}' does not contain the required METADATA file: demo-1.0.dist-info/METADATA",
    )
    data = kit.wheel_bytes(with_metadata=False, wheel=None)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL), "required METADATA file"
    )


def test_dist_info_spelling(kit: type[Kit], write: Write) -> None:
    # Any spelling that normalizes to the filename's name and version is fine.
    for directory in ("Demo-1.0.0.dist-info", "demo-1.0.dist-info"):
        data = kit.wheel_bytes(dist_info=directory)
        assert inspect_distribution(write(WHEEL, data), WHEEL).metadata_bytes is not None
    data = kit.wheel_bytes(dist_info="other-1.0.dist-info")
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL),
        "for a different project or version",
    )
    data = kit.wheel_bytes({"other-2.0.dist-info/METADATA": b"x"})
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL), "multiple .dist-info directories"
    )


@pytest.mark.parametrize(
    ("wheel_file", "fragment"),
    [
        (b"Generator: test\n", "has no Wheel-Version"),
        (b"Wheel-Version: 2.0\n", "unsupported Wheel-Version '2.0'"),
        (b"Wheel-Version: \xff\n", "is not valid UTF-8"),
    ],
)
def test_bad_wheel_file(kit: type[Kit], write: Write, wheel_file: bytes, fragment: str) -> None:
    data = kit.wheel_bytes(wheel=wheel_file)
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, data), WHEEL), fragment)


def test_crlf_wheel_file(kit: type[Kit], write: Write) -> None:
    data = kit.wheel_bytes(wheel=b"Wheel-Version: 1.0\r\nGenerator: bdist_wheel\r\n")
    assert inspect_distribution(write(WHEEL, data), WHEEL).name == "demo"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("Requires-Dist: foo >= = 1", "'foo >= = 1' is invalid for 'requires-dist'"),
        ("Requires-Dist: foo @ https://example.com/foo.whl", "Can't have direct dependency"),
        ("Requires-Python: >=3.6.*", "'>=3.6.*' is invalid for 'requires-python'"),
        ("Provides-Extra: not valid!", "is invalid for 'provides-extra'"),
        ("Description-Content-Type: text/html", "description-content-type"),
        ("Dynamic: Name", "'name' is not allowed as a dynamic field"),
        ("Home-page: ftp://example.com", "'ftp://example.com' is not a valid url"),
        ("Project-URL: Source", "Must have a URL"),
        ("Project-URL: Source, https://a.example, https://b.example", "is not a valid url"),
        ("Project-URL: " + "L" * 40 + ", https://example.com", "must be 32 characters or less"),
        ("Provides-Dist: not a requirement!", "'not a requirement!' is invalid"),
        ("License-Expression: MIT AND", "is invalid for 'license-expression'"),
        ("Classifier: Programming Language :: Pyhton :: 3", "is not a valid classifier"),
        (
            "Classifier: Framework :: Django CMS :: 4.2",
            "Classifier 'Framework :: Django CMS :: 4.2' has been deprecated, use the following "
            "classifier(s) instead: ['Framework :: Django CMS :: 5.0']",
        ),
        (
            "Classifier: License :: OSI Approved :: X.Net License",
            "Classifier 'License :: OSI Approved :: X.Net License' has been deprecated",
        ),
        ("Author-email: not an address", "'not an address' is not a valid email address"),
        ("Maintainer-email: Bob <bob@exa_mple.com>", "'bob@exa_mple.com' is not a valid email"),
        ("Author-email: a@example.com, b@@example.com", "'b@@example.com' is not a valid email"),
    ],
)
def test_invalid_fields(kit: type[Kit], write: Write, line: str, fragment: str) -> None:
    _wheel_error(
        kit,
        write,
        "Invalid distribution metadata in demo-1.0.dist-info/METADATA",
        fragment,
        extra=[line],
    )


def test_classifiers_and_addresses_pypi_takes(kit: type[Kit], write: Write) -> None:
    dist = _wheel(
        kit,
        write,
        extra=[
            "Classifier: Programming Language :: Python :: 3",
            "Classifier: Development Status :: 5 - Production/Stable",
            # Refused by PyPI, and the reason to publish on a private index.
            "Classifier: Private :: Do Not Upload",
            "Author-email: Ann <ann@example.com>, bob@example.org",
            'Maintainer-email: "Team, The" <team@example.net>',
        ],
    )
    assert "Private :: Do Not Upload" in dist.metadata["classifiers"]


def test_long_summary(kit: type[Kit], write: Write) -> None:
    _wheel_error(kit, write, "'summary' field must be 512 characters or less", summary="s" * 600)


def test_license_and_license_expression(kit: type[Kit], write: Write) -> None:
    _wheel_error(
        kit,
        write,
        "License is deprecated when License-Expression is present",
        metadata_version="2.4",
        extra=["License: MIT", "License-Expression: MIT"],
    )


def test_license_files_must_exist(kit: type[Kit], write: Write) -> None:
    metadata = kit.metadata_text(metadata_version="2.4", extra=["License-File: LICENSE"])
    data = kit.wheel_bytes(metadata=metadata)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL),
        "License-File LICENSE does not exist in distribution file",
        "demo-1.0.dist-info/licenses/LICENSE",
    )
    data = kit.wheel_bytes({"demo-1.0.dist-info/licenses/LICENSE": b"MIT"}, metadata=metadata)
    assert inspect_distribution(write(WHEEL, data), WHEEL).metadata["license_files"] == ["LICENSE"]
    sdist = kit.sdist_bytes(pkg_info=metadata)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, sdist), SDIST), "at demo-1.0/LICENSE"
    )
    sdist = kit.sdist_bytes(pkg_info=metadata, extra=[("demo-1.0/LICENSE", b"MIT")])
    assert inspect_distribution(write(SDIST, sdist), SDIST).name == "demo"


def test_every_problem_in_one_line(kit: type[Kit], write: Write) -> None:
    error = kit.expect_dist_error(
        lambda: _wheel(
            kit,
            write,
            metadata_version="9.9",
            extra=[
                "Summary: two",
                "Requires-Dist: bad req !",
                "Requires-Python: nope",
                "Home-page: not a url",
            ],
        )
    )
    message = str(error)
    assert message.index("'9.9' is not a valid metadata version") < message.index("requires-dist")
    for fragment in (
        "'summary' has invalid data",
        "requires-python",
        "'not a url' is not a valid url",
    ):
        assert fragment in message


@pytest.mark.parametrize("metadata_version", ACCEPTED_METADATA_VERSIONS)
def test_accepted_metadata_versions(kit: type[Kit], write: Write, metadata_version: str) -> None:
    dist = _wheel(kit, write, metadata_version=metadata_version)
    assert dist.metadata_version == metadata_version == dist.metadata["metadata_version"]


@pytest.mark.parametrize("metadata_version", ["0.9", "3.0", "2.6", "2", "latest"])
def test_refused_metadata_versions(kit: type[Kit], write: Write, metadata_version: str) -> None:
    _wheel_error(
        kit,
        write,
        f"{metadata_version!r} is not a valid metadata version",
        metadata_version=metadata_version,
    )


def test_required_fields(kit: type[Kit], write: Write) -> None:
    data = kit.wheel_bytes(metadata=b"Name: demo\nVersion: 1.0\n")
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL),
        "'metadata-version' is a required field",
    )
    data = kit.wheel_bytes(metadata=b"Metadata-Version: 2.1\nName: demo\n")
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, data), WHEEL), "'version'")
    data = kit.wheel_bytes(
        metadata=b"Metadata-Version: 2.1\nName: demo\nName: other\nVersion: 1.0\n"
    )
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL), "'name' has invalid data"
    )


@pytest.mark.parametrize(
    "metadata",
    [
        b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nAuthor: Jos\xe9\n",
        b"\xff\xfeM\x00e\x00t\x00a\x00",
        b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n\xc3\x28 body",
    ],
)
def test_undecodable_metadata(kit: type[Kit], write: Write, metadata: bytes) -> None:
    data = kit.wheel_bytes(metadata=metadata)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(WHEEL, data), WHEEL), "not valid UTF-8"
    )
    sdist = kit.sdist_bytes(pkg_info=metadata)
    kit.expect_dist_error(
        lambda: inspect_distribution(write(SDIST, sdist), SDIST), "not valid UTF-8"
    )


@pytest.mark.parametrize(
    "metadata",
    [b"", b"\x00\x00\x00", b"Metadata-Version: 2.1\x00\nName: demo\n", b"\n\n\n", b"::::\n:\n"],
)
def test_garbage_metadata(kit: type[Kit], write: Write, metadata: bytes) -> None:
    data = kit.wheel_bytes(metadata=metadata)
    kit.expect_dist_error(lambda: inspect_distribution(write(WHEEL, data), WHEEL))


def test_real_world_leniency(kit: type[Kit], write: Write) -> None:
    dist = _wheel(
        kit,
        write,
        metadata_version="1.2",
        extra=[
            "Home-page: UNKNOWN",
            "License: UNKNOWN",
            "Platform: UNKNOWN",
            "Requires-Dist: pytz (>=2011k)",
            "Requires-Dist: six (>=1.4.0); python_version < '3'",
            "License-File: LICENSE",  # added by setuptools before Metadata 2.4
            "X-Custom-Field: ignored",  # not a core metadata field
        ],
    )
    assert dist.metadata["home_page"] is None
    assert dist.metadata["license"] is None
    assert dist.metadata["platform"] is None
    assert dist.metadata["requires_dist"] == [
        "pytz (>=2011k)",
        "six (>=1.4.0); python_version < '3'",
    ]
    assert dist.metadata["license_files"] == ["LICENSE"]
    # Legacy requirement syntax is only accepted from pre-PEP 508 metadata.
    _wheel_error(
        kit, write, "requires-dist", metadata_version="2.1", extra=["Requires-Dist: pytz (>=2011k)"]
    )


def test_metadata_dict(kit: type[Kit], write: Write) -> None:
    dist = _wheel(
        kit,
        write,
        metadata_version="2.4",
        extra=[
            "Keywords: one,two",
            "Classifier: Programming Language :: Python :: 3",
            "Requires-Python: >=3.9",
            "Requires-Dist: requests>=2; extra == 'http'",
            "Provides-Extra: HTTP",
            "Project-URL: Source, https://example.com/src",
            "Dynamic: license-file",
            "Description-Content-Type: text/markdown; charset=UTF-8; variant=GFM",
            "Author-email: Jöse <jose@example.com>",
        ],
        body="# Demo ✨\n",
    )
    meta = dist.metadata
    assert meta["keywords"] == "one, two"
    assert meta["classifiers"] == ["Programming Language :: Python :: 3"]
    assert dist.requires_python == meta["requires_python"] == ">=3.9"
    assert meta["requires_dist"] == ["requests>=2; extra == 'http'"]
    assert meta["provides_extra"] == ["http"]
    assert meta["project_urls"] == {"Source": "https://example.com/src"}
    assert meta["dynamic"] == ["License-File"]
    assert meta["description"] == "# Demo ✨\n"
    assert meta["author_email"] == "Jöse <jose@example.com>"
    assert dist.summary == meta["summary"] == "A demo"
    assert meta["maintainer"] is None
