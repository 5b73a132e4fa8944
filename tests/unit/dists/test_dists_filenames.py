"""stockade.dists.parse_filename and the platform tag rules."""

from __future__ import annotations

import pytest
from packaging.version import Version

from stockade.dists import DistError, FilenameInfo, is_valid_platform_tag, parse_filename


def _one_line_error(filename: str) -> str:
    with pytest.raises(DistError) as info:
        parse_filename(filename)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("filename", "name", "normalized", "version", "python_version"),
    [
        ("six-1.16.0-py2.py3-none-any.whl", "six", "six", "1.16.0", "py2.py3"),
        ("efilter-1!1.3-py2-none-any.whl", "efilter", "efilter", "1!1.3", "py2"),
        ("ruamel.yaml-0.18.6-py3-none-any.whl", "ruamel.yaml", "ruamel-yaml", "0.18.6", "py3"),
        ("PyJWT-2.8.0-py3-none-any.whl", "PyJWT", "pyjwt", "2.8.0", "py3"),
        ("pydicom-1.1.0-1-py2.py3-none-any.whl", "pydicom", "pydicom", "1.1.0", "py2.py3"),
        (
            "zope.interface-6.4.post2-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64"
            ".manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "zope.interface",
            "zope-interface",
            "6.4.post2",
            "cp311",
        ),
        (
            "argon2_cffi_bindings-21.2.0-cp36-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "argon2_cffi_bindings",
            "argon2-cffi-bindings",
            "21.2.0",
            "cp36",
        ),
        (
            "MarkupSafe-3.0.2-cp313-cp313t-win_arm64.whl",
            "MarkupSafe",
            "markupsafe",
            "3.0.2",
            "cp313",
        ),
    ],
)
def test_wheel_filenames(
    filename: str, name: str, normalized: str, version: str, python_version: str
) -> None:
    info = parse_filename(filename)
    assert info == FilenameInfo(
        filename=filename,
        packagetype="bdist_wheel",
        name=name,
        normalized_name=normalized,
        version=Version(version),
        python_version=python_version,
    )


@pytest.mark.parametrize(
    ("filename", "name", "normalized", "version"),
    [
        ("python-dateutil-2.9.0.post0.tar.gz", "python-dateutil", "python-dateutil", "2.9.0.post0"),
        ("foursquare-1!2020.1.30.tar.gz", "foursquare", "foursquare", "1!2020.1.30"),
        ("zope.interface-7.2.tar.gz", "zope.interface", "zope-interface", "7.2"),
        ("typing_extensions-4.12.2.tar.gz", "typing_extensions", "typing-extensions", "4.12.2"),
        ("MarkupSafe-2.1.5.tar.gz", "MarkupSafe", "markupsafe", "2.1.5"),
        ("demo-1.0rc1.tar.gz", "demo", "demo", "1.0rc1"),
    ],
)
def test_sdist_filenames(filename: str, name: str, normalized: str, version: str) -> None:
    info = parse_filename(filename)
    assert info.packagetype == "sdist"
    assert info.python_version == "source"
    assert (info.name, info.normalized_name, info.version) == (name, normalized, Version(version))


@pytest.mark.parametrize(
    "filename",
    [
        "pytz-2013d.zip",
        "simplegeneric-0.8.1.zip",
        "pytz-2013d.tar.bz2",
        "pytz-2013d-py2.7.egg",
        "pyreadline-2.1.win32.exe",
        "demo-1.0.msi",
        "demo-1.0.tgz",
        "demo-1.0.tar.xz",
        "demo-1.0.TAR.GZ",
        "demo-1.0-py3-none-any.WHL",
        "demo-1.0",
        "",
    ],
)
def test_refused_extensions(filename: str) -> None:
    assert _one_line_error(filename).startswith(
        "Invalid file extension: Use .tar.gz or .whl extension."
    )


@pytest.mark.parametrize("filename", ["pytz-2013d.tar.gz", "pytz-2013d-py3-none-any.whl"])
def test_legacy_versions_refused(filename: str) -> None:
    message = _one_line_error(filename)
    assert "'2013d' is not a valid PEP 440 version" in message


@pytest.mark.parametrize(
    "filename", ["demo-1.0+local.tar.gz", "demo-1.0+ubuntu.1-py3-none-any.whl"]
)
def test_local_versions_refused(filename: str) -> None:
    assert _one_line_error(filename).startswith("Can't use PEP 440 local versions.")


@pytest.mark.parametrize(
    ("filename", "platform"),
    [
        ("demo-1.0-cp311-cp311-linux_x86_64.whl", "linux_x86_64"),
        ("demo-1.0-cp311-cp311-macosx_11_3_arm64.whl", "macosx_11_3_arm64"),
        ("demo-1.0-cp311-cp311-musllinux_1_2_ppc64.whl", "musllinux_1_2_ppc64"),
        (
            "demo-1.0-cp311-cp311-manylinux_2_17_sparc.manylinux2014_x86_64.whl",
            "manylinux_2_17_sparc",
        ),
        ("demo-1.0-py3-none-freebsd_13_amd64.whl", "freebsd_13_amd64"),
    ],
)
def test_unsupported_platform_tags(filename: str, platform: str) -> None:
    message = _one_line_error(filename)
    assert message == f"Binary wheel '{filename}' has an unsupported platform tag '{platform}'."


@pytest.mark.parametrize(
    "platform",
    [
        "any",
        "win32",
        "win_amd64",
        "win_arm64",
        "linux_armv6l",
        "linux_armv7l",
        "manylinux1_x86_64",
        "manylinux2014_aarch64",
        "manylinux_2_28_ppc64",
        "manylinux_2_39_riscv64",
        "musllinux_1_1_aarch64",
        "macosx_10_9_universal2",
        "macosx_10_15_x86_64",
        "macosx_11_0_arm64",
        "macosx_14_0_universal2",
        "ios_13_0_arm64_iphoneos",
        "ios_13_0_x86_64_iphonesimulator",
        "android_21_arm64_v8a",
    ],
)
def test_supported_platform_tags(platform: str) -> None:
    assert is_valid_platform_tag(platform)
    assert parse_filename(f"demo-1.0-cp311-cp311-{platform}.whl").version == Version("1.0")


@pytest.mark.parametrize(
    "filename",
    [
        "demo.whl",
        "demo-1.0-py3-none.whl",
        "demo-1.0-x-py3-none-any.whl",  # build tag must start with a digit
        "demo-1.0-1-2-py3-none-any.whl",
        "de__mo-1.0-py3-none-any.whl",
    ],
)
def test_invalid_wheel_filenames(filename: str) -> None:
    assert _one_line_error(filename)


@pytest.mark.parametrize(
    "filename", ["demo.tar.gz", "-1.0.tar.gz", "demo-.tar.gz", "-demo-1.0.tar.gz"]
)
def test_invalid_sdist_filenames(filename: str) -> None:
    assert "Invalid source distribution filename" in _one_line_error(filename)


@pytest.mark.parametrize(
    ("filename", "fragment"),
    [
        ("demo-1.0\n.tar.gz", "non-printable characters"),
        ("demo-1.0\x7f.tar.gz", "non-printable characters"),
        ("../demo-1.0.tar.gz", "'/' or '\\'"),
        ("dir\\demo-1.0.tar.gz", "'/' or '\\'"),
    ],
)
def test_unsafe_filename_characters(filename: str, fragment: str) -> None:
    assert fragment in _one_line_error(filename)
