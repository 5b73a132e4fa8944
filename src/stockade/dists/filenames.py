"""Parse and validate distribution filenames (PEP 427 wheels, PEP 625 sdists)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from packaging.utils import (
    InvalidName,
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from stockade.dists.errors import DistError
from stockade.dists.tags import is_valid_platform_tag

__all__ = ["FilenameInfo", "parse_filename"]

WHEEL_SUFFIX = ".whl"
SDIST_SUFFIX = ".tar.gz"

PackageType = Literal["bdist_wheel", "sdist"]


@dataclass(frozen=True)
class FilenameInfo:
    """What a distribution's filename says about it."""

    filename: str
    packagetype: PackageType
    name: str  # name as written in the filename
    normalized_name: str  # packaging canonicalize_name
    version: Version
    python_version: str  # wheel: python tag(s) as in the filename; sdist: "source"


def parse_filename(filename: str) -> FilenameInfo:
    """Parse an uploaded file's name into a :class:`FilenameInfo`.

    Only ``.whl`` and ``.tar.gz`` are accepted (PEP 527, PEP 625). The version
    must be a PEP 440 version without a local segment, and every platform tag of
    a wheel must be one the index accepts. Raises :class:`DistError` otherwise.
    """
    _check_characters(filename)
    if filename.endswith(WHEEL_SUFFIX):
        return _parse_wheel(filename)
    if filename.endswith(SDIST_SUFFIX):
        return _parse_sdist(filename)
    raise DistError(
        "Invalid file extension: Use .tar.gz or .whl extension. "
        "See https://peps.python.org/pep-0527 and https://peps.python.org/pep-0625 "
        "for more information."
    )


def _check_characters(filename: str) -> None:
    if any(ord(char) < 32 or ord(char) == 127 for char in filename):
        raise DistError(
            "Cannot upload a file with non-printable characters (ordinals 0-31) "
            "or the DEL character (ordinal 127) in the name."
        )
    if "/" in filename or "\\" in filename:
        raise DistError("Cannot upload a file with '/' or '\\' in the name.")


def _invalid_version(filename: str, version: str) -> DistError:
    return DistError(
        f"Invalid version in filename {filename!r}: {version!r} is not a valid PEP 440 "
        "version. See https://peps.python.org/pep-0440/ for more information."
    )


def _check_not_local(filename: str, version: Version) -> None:
    if version.local is not None:
        raise DistError(
            f"Can't use PEP 440 local versions. {filename!r} has the local version "
            f"{str(version)!r}."
        )


def _parse_wheel(filename: str) -> FilenameInfo:
    parts = filename[: -len(WHEEL_SUFFIX)].split("-")
    try:
        normalized_name, version, _build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        if len(parts) in (5, 6) and parts[0]:
            try:
                Version(parts[1])
            except InvalidVersion:
                raise _invalid_version(filename, parts[1]) from None
        raise DistError(str(exc)) from None
    _check_not_local(filename, version)
    for platform in sorted({tag.platform for tag in tags}):
        if not is_valid_platform_tag(platform):
            raise DistError(
                f"Binary wheel '{filename}' has an unsupported platform tag '{platform}'."
            )
    return FilenameInfo(
        filename=filename,
        packagetype="bdist_wheel",
        name=parts[0],
        normalized_name=str(normalized_name),
        version=version,
        python_version=parts[-3],
    )


def _sdist_info(filename: str, name: str, version: Version) -> FilenameInfo:
    return FilenameInfo(
        filename=filename,
        packagetype="sdist",
        name=name,
        normalized_name=str(canonicalize_name(name)),
        version=version,
        python_version="source",
    )


def _parse_sdist(filename: str) -> FilenameInfo:
    stem = filename[: -len(SDIST_SUFFIX)]
    # The version cannot contain '-' in its normalized form, while names can:
    # python-dateutil-2.9.0.post0.tar.gz is ('python-dateutil', '2.9.0.post0').
    name, sep, version_string = stem.rpartition("-")
    if not sep or not name or not version_string:
        raise DistError(
            f"Invalid source distribution filename: {filename!r} "
            "(expected '{name}-{version}.tar.gz')."
        )
    try:
        canonicalize_name(name, validate=True)
    except InvalidName:
        raise DistError(
            f"Invalid source distribution filename: {filename!r} "
            f"({name!r} is not a valid project name)."
        ) from None
    try:
        version = Version(version_string)
    except InvalidVersion:
        raise _invalid_version(filename, version_string) from None
    _check_not_local(filename, version)
    return _sdist_info(filename, name, version)


def reparse_sdist_with_hyphenated_version(
    info: FilenameInfo, metadata_name: str, metadata_version: Version
) -> FilenameInfo | None:
    """Retry an sdist split for a post-release written with a hyphen (``foo-1.0-1.tar.gz``).

    Splitting on the last '-' gives ('foo-1.0', '1'); when the metadata says the
    project is ``foo`` at a post-release, split on the second to last '-' instead
    (as PyPI does). Returns ``None`` unless that reading matches the metadata.
    """
    if info.packagetype != "sdist" or not metadata_version.is_postrelease:
        return None
    stem = info.filename[: -len(SDIST_SUFFIX)]
    name = stem.rpartition("-")[0].rpartition("-")[0]
    if not name:
        return None
    try:
        version = Version(stem[len(name) + 1 :])
    except InvalidVersion:
        return None
    if canonicalize_name(name) != canonicalize_name(metadata_name) or version != metadata_version:
        return None
    return _sdist_info(info.filename, name, version)
