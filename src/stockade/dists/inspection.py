"""Inspect an uploaded distribution file: archive checks, metadata, identity."""

from __future__ import annotations

import email.parser
import re
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from stockade.dists.archives import DEFAULT_LIMITS, ArchiveLimits, WheelArchive, scan_sdist
from stockade.dists.errors import DistError
from stockade.dists.filenames import (
    FilenameInfo,
    parse_filename,
    reparse_sdist_with_hyphenated_version,
)
from stockade.dists.metadata import ValidatedMetadata, validate_metadata

__all__ = ["DistInfo", "inspect_distribution"]

_WHEEL_VERSION_RE = re.compile(r"(\d+)(?:\.\d+)*")
_DIST_INFO = ".dist-info"


@dataclass(frozen=True)
class DistInfo:
    """A validated distribution file and its metadata."""

    file: FilenameInfo
    name: str  # metadata Name as written (e.g. "Flask")
    normalized_name: str
    version: str  # metadata Version exactly as written
    canonical_version: str  # str(packaging.version.Version(version))
    metadata_version: str
    requires_python: str | None
    summary: str | None
    metadata: dict[str, Any]  # JSON-serialisable, keyed like PyPI's JSON API "info"
    metadata_bytes: bytes | None  # wheels: exact bytes of .dist-info/METADATA; sdists: None


def inspect_distribution(
    path: Path, filename: str, *, limits: ArchiveLimits = DEFAULT_LIMITS
) -> DistInfo:
    """Validate the distribution stored at *path*, uploaded as *filename*.

    Checks the filename, the archive's structure and size limits, then reads and
    validates the core metadata and checks it matches the filename. Raises
    :class:`DistError` (one-line reason) for any unacceptable input; only a
    *path* that cannot be found raises :class:`OSError`.
    """
    try:
        info = parse_filename(filename)
    except DistError:
        raise
    except Exception as exc:  # pragma: no cover - parse_filename only raises DistError
        raise DistError(f"Invalid distribution filename {filename!r}.") from exc
    path = Path(path)
    path.stat()  # a missing file is the caller's problem, not the upload's
    try:
        if info.packagetype == "bdist_wheel":
            return _inspect_wheel(path, info, limits)
        return _inspect_sdist(path, info, limits)
    except DistError:
        raise
    except Exception as exc:  # last line of defence: hostile bytes must never become a 500
        raise DistError(
            f"Invalid distribution file. {filename!r} could not be read ({type(exc).__name__})."
        ) from exc


def _same_version(text: str, version: Version) -> bool:
    try:
        return Version(text) == version
    except InvalidVersion:
        return False


def _check_wheel_file(data: bytes, source: str) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DistError(f"Invalid wheel: {source} is not valid UTF-8.") from None
    headers = email.parser.HeaderParser().parsestr(text)
    value = headers.get("Wheel-Version")
    if value is None:
        raise DistError(f"Invalid wheel: {source} has no Wheel-Version.")
    match = _WHEEL_VERSION_RE.fullmatch(str(value).strip())
    if match is None or int(match[1]) != 1:
        raise DistError(
            f"Invalid wheel: unsupported Wheel-Version {str(value).strip()!r} in {source}."
        )


def _check_identity(info: FilenameInfo, meta: ValidatedMetadata) -> FilenameInfo:
    canonical = canonicalize_name(meta.name)
    if canonical != info.normalized_name:
        alternative = reparse_sdist_with_hyphenated_version(info, meta.name, meta.parsed_version)
        if alternative is None:
            raise DistError(
                f"Start filename for {meta.name!r} with {canonical.replace('-', '_')!r}."
            )
        info = alternative
    if meta.parsed_version != info.version:
        raise DistError(
            f"Version in filename should be {str(meta.parsed_version)!r} not {str(info.version)!r}."
        )
    return info


def _check_license_files(
    meta: ValidatedMetadata, names: Container[str], prefix: str, filename: str
) -> None:
    """PEP 639 (Metadata 2.4+): every License-File must be in the archive."""
    if Version(meta.metadata_version) < Version("2.4"):
        return  # older setuptools wrote License-File with other semantics
    for license_file in meta.license_files:
        target = f"{prefix}{license_file}"
        if target not in names:
            raise DistError(
                f"License-File {license_file} does not exist in distribution file "
                f"{filename} at {target}"
            )


def _result(info: FilenameInfo, meta: ValidatedMetadata, metadata_bytes: bytes | None) -> DistInfo:
    return DistInfo(
        file=info,
        name=meta.name,
        normalized_name=str(canonicalize_name(meta.name)),
        version=meta.version,
        canonical_version=str(meta.parsed_version),
        metadata_version=meta.metadata_version,
        requires_python=meta.requires_python,
        summary=meta.summary,
        metadata=meta.fields,
        metadata_bytes=metadata_bytes,
    )


def _find_dist_info(archive: WheelArchive, info: FilenameInfo) -> str:
    filename = info.filename
    written_version = filename.split("-")[1]
    expected = f"{info.name}-{written_version}{_DIST_INFO}"
    directories = sorted(
        {
            name.split("/", 1)[0]
            for name in archive.names
            if "/" in name and name.split("/", 1)[0].endswith(_DIST_INFO)
        }
    )
    if not directories:
        raise DistError(
            f"Wheel '{filename}' does not contain the required METADATA file: {expected}/METADATA"
        )
    if len(directories) > 1:
        raise DistError(
            f"Wheel '{filename}' contains multiple .dist-info directories: "
            + ", ".join(directories)
        )
    directory = directories[0]
    dist_name, _, dist_version = directory.removesuffix(_DIST_INFO).rpartition("-")
    if (
        not dist_name
        or canonicalize_name(dist_name) != info.normalized_name
        or not (_same_version(dist_version, info.version))
    ):
        raise DistError(
            f"Wheel '{filename}' contains a .dist-info directory, but it is for a different "
            f"project or version: {directory} (expected {expected})"
        )
    return directory


def _inspect_wheel(path: Path, info: FilenameInfo, limits: ArchiveLimits) -> DistInfo:
    filename = info.filename
    with WheelArchive(path, limits) as archive:
        directory = _find_dist_info(archive, info)
        metadata_name = f"{directory}/METADATA"
        wheel_name = f"{directory}/WHEEL"
        if metadata_name not in archive:
            raise DistError(
                f"Wheel '{filename}' does not contain the required METADATA file: {metadata_name}"
            )
        if wheel_name not in archive:
            raise DistError(
                f"Wheel '{filename}' does not contain the required WHEEL file: {wheel_name}"
            )
        _check_wheel_file(archive.read(wheel_name), wheel_name)
        metadata_bytes = archive.read(metadata_name)
        meta = validate_metadata(metadata_bytes, metadata_name)
        info = _check_identity(info, meta)
        _check_license_files(meta, archive, f"{directory}/licenses/", filename)
    return _result(info, meta, metadata_bytes)


def _inspect_sdist(path: Path, info: FilenameInfo, limits: ArchiveLimits) -> DistInfo:
    filename = info.filename
    contents = scan_sdist(path, limits)
    pkg_info_name = f"{contents.top_level}/PKG-INFO"
    if contents.pkg_info is None:
        raise DistError(
            f"Source distribution '{filename}' does not contain the required PKG-INFO file: "
            f"{pkg_info_name}"
        )
    meta = validate_metadata(contents.pkg_info, pkg_info_name)
    info = _check_identity(info, meta)
    _check_license_files(meta, contents.names, f"{contents.top_level}/", filename)
    return _result(info, meta, None)
