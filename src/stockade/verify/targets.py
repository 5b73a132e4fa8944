"""What ``stockade verify`` is asked about: files on disk, or the pinned releases of a
requirements file (``name==version``, with ``--hash=sha256:…`` options where present)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from stockade.verify.interface import Target, VerifyError

__all__ = ["Pin", "file_target", "read_requirements", "release_targets"]

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*([^\s;\\]+)")
_HASH = re.compile(r"--hash[=\s]sha256:([0-9a-fA-F]{64})")
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def file_target(path: Path) -> Target:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return Target(path.name, digest.hexdigest(), f"the file {path}")


class Pin:
    """One pinned requirement: a name, a version and the sha256s it allows (any if empty)."""

    def __init__(self, name: str, version: str, hashes: set[str]) -> None:
        self.name, self.version, self.hashes = name, version, hashes


def read_requirements(path: Path) -> list[Pin]:
    """The pins of a requirements file; a requirement that is not pinned with == is an error
    (there is no one file to verify)."""
    text = path.read_text(encoding="utf-8")
    pins: list[Pin] = []
    for number, line in enumerate(text.replace("\\\n", " ").splitlines(), 1):
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = _PIN.match(line)
        if match is None:
            raise VerifyError(f"{path}:{number}: {line!r} is not pinned as name==version")
        hashes = {h.lower() for h in _HASH.findall(line)}
        pins.append(Pin(match.group(1), match.group(2), hashes))
    return pins


def _version_of(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def release_targets(client: httpx.Client, index_url: str, pin: Pin) -> list[Target]:
    """The files of ``pin``'s release as the index's simple page lists them (PEP 691 JSON),
    narrowed to the pin's hashes when it has any."""
    name = canonicalize_name(pin.name)
    url = f"{index_url.rstrip('/')}/simple/{name}/"
    try:
        answer = client.get(url, headers={"accept": _SIMPLE_JSON})
    except httpx.HTTPError as exc:
        raise VerifyError(f"cannot read {url}: {exc}") from exc
    if answer.status_code != 200:
        raise VerifyError(f"{url} answered {answer.status_code}")
    try:
        wanted = Version(pin.version)
    except InvalidVersion as exc:
        raise VerifyError(f"{pin.name}=={pin.version}: not a valid version") from exc
    targets = []
    for item in answer.json().get("files", []):
        sha256 = str(item.get("hashes", {}).get("sha256", ""))
        if _version_of(item["filename"]) != wanted:
            continue
        if pin.hashes and sha256 not in pin.hashes:
            continue
        targets.append(Target(item["filename"], sha256, f"the page {url}"))
    if not targets:
        raise VerifyError(f"{pin.name}=={pin.version}: the index lists no such file")
    missing = pin.hashes - {t.sha256 for t in targets}
    if missing:
        raise VerifyError(
            f"{pin.name}=={pin.version}: no file on {url} has the pinned sha256 {min(missing)}"
        )
    return targets
