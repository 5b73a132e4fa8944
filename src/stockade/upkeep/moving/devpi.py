"""``stockade import devpi EXPORT_DIR``: what ``devpi-export`` wrote, moved in.

A devpi export is a folder with ``dataindex.json`` (users, and indexes with their projects'
metadata and a list of files) and the files themselves under ``USER/INDEX/...``. Here:

- each devpi user becomes a stockade user with the same name and email address, and with
  devpi's password hash when it is an argon2 hash (devpi 6 and later: the password keeps
  working), else no password (the user sets one through "forgot password"); a user without an
  email address is not created (stockade needs one) and the files of their indexes go to the
  default owner;
- each stage index's release files are imported as uploads by the index's user (each checked as
  an upload is, the export's sha256 verified, the upload time taken from devpi's log); devpi's
  namespaces (``alice/dev``, ``bob/prod``) collapse into stockade's one: the same file in two
  indexes is imported once, a different file of the same name is refused;
- mirror indexes, the inheritance of ``bases``, documentation zips and tox results have no
  counterpart here: they are noted and skipped.

Users that exist already are kept as they are, and files already imported are skipped, so a
second run finishes an interrupted one.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError
from sqlalchemy.orm import Session

from stockade.accounts.services import AccountError, create_user, find_user
from stockade.db import Database, utcnow
from stockade.events.services import Origin
from stockade.upkeep.moving.files import Candidate, MoveError, is_distribution_name

__all__ = ["DevpiPlan", "DevpiUser", "UserOutcome", "create_users", "read_export", "settle_owners"]


@dataclass(frozen=True)
class DevpiUser:
    """A user of the export, as stockade can take it."""

    username: str
    email: str | None
    password_hash: str | None  # an argon2 hash stockade verifies, else None


@dataclass
class DevpiPlan:
    """What an export holds, read and checked: the users to create, the files to import,
    the files refused before any import (with why), and notes on what is skipped."""

    users: list[DevpiUser] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class UserOutcome:
    """What happened to each user of the export."""

    created: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    without_password: list[str] = field(default_factory=list)


def _usable_hash(value: object) -> str | None:
    """devpi's password hash when stockade's verifier reads it (argon2), else None."""
    if not isinstance(value, str) or not value.startswith("$argon2"):
        return None
    try:
        extract_parameters(value)
    except InvalidHashError:
        return None
    return value


def _upload_time(entry: Mapping[str, Any]) -> dt.datetime | None:
    """When devpi took the file: its upload log entry, else the file's Last-Modified."""
    log = entry.get("log")
    if isinstance(log, list):
        for item in log:
            when = item.get("when") if isinstance(item, dict) else None
            if item.get("what") == "upload" and isinstance(when, list) and len(when) == 6:
                try:
                    year, month, day, hour, minute, second = (int(x) for x in when)
                    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
                except (TypeError, ValueError):
                    break
    mapping = entry.get("entrymapping")
    modified = mapping.get("last_modified") if isinstance(mapping, dict) else None
    if isinstance(modified, str):
        try:
            return email.utils.parsedate_to_datetime(modified).astimezone(dt.UTC)
        except (TypeError, ValueError):
            return None
    return None


def _export_sha256(entry: Mapping[str, Any]) -> str | None:
    mapping = entry.get("entrymapping")
    if not isinstance(mapping, dict):
        return None
    hashes = mapping.get("hashes")
    if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str):
        return str(hashes["sha256"]).lower()
    spec = mapping.get("hash_spec")
    if isinstance(spec, str) and spec.startswith("sha256="):
        return spec.removeprefix("sha256=").lower()
    return None


def _dict(value: object) -> dict[str, Any]:
    """A JSON object of the export, or an empty one where something else stands."""
    return value if isinstance(value, dict) else {}


def _load(export: Path) -> dict[str, Any]:
    if not export.is_dir():
        raise MoveError(f"{export} is not a folder")
    index = export / "dataindex.json"
    try:
        data = json.loads(index.read_bytes())
    except FileNotFoundError as exc:
        raise MoveError(f"{export} has no dataindex.json: is it a devpi-export folder?") from exc
    except (OSError, ValueError) as exc:
        raise MoveError(f"{index} cannot be read as JSON: {exc}") from exc
    if not (
        isinstance(data, dict)
        and isinstance(data.get("users", {}), dict)
        and isinstance(data.get("indexes", {}), dict)
    ):
        raise MoveError(f"{index} is not a devpi export (no users and indexes)")
    return data


def read_export(export: Path, default_owner: str | None) -> DevpiPlan:
    """Read ``export`` (a ``devpi-export`` folder): the users, and every release file of its
    stage indexes as a candidate owned by the index's user (``default_owner`` when that user
    has no email address and so is not created; refused when there is none)."""
    data = _load(export)
    plan = DevpiPlan()
    version = data.get("dumpversion")
    if version not in (None, "1", "2"):
        plan.notes.append(f"export format {version!r} is newer than this importer knows: read as 2")
    for name, raw in sorted(data["users"].items()):
        mail = _dict(raw).get("email")
        plan.users.append(
            DevpiUser(
                username=str(name),
                email=mail if isinstance(mail, str) and mail else None,
                password_hash=_usable_hash(_dict(raw).get("pwhash")),
            )
        )
    emails = {u.username: u.email for u in plan.users}
    root = export.resolve()
    seen: dict[tuple[str, str], str] = {}
    for index_name, raw in sorted(data["indexes"].items()):
        config = _dict(_dict(raw).get("indexconfig"))
        kind = config.get("type", "stage")
        listed = _dict(raw).get("files")
        files: list[Any] = listed if isinstance(listed, list) else []
        if kind != "stage":
            plan.notes.append(
                f"index {index_name} skipped: a {kind} index"
                + (f" (a mirror of {config['mirror_url']})" if "mirror_url" in config else "")
                + (f", {len(files)} file(s) not imported" if files else "")
            )
            continue
        bases = config.get("bases")
        if isinstance(bases, list) and bases:
            plan.notes.append(
                f"index {index_name}: its bases ({', '.join(map(str, bases))}) are not carried "
                "over: stockade has one namespace, their files are imported from their own index"
            )
        username = str(index_name).split("/", 1)[0]
        owner = username if emails.get(username) else default_owner
        _plan_files(plan, root, str(index_name), files, owner, seen)
    return plan


def _plan_files(
    plan: DevpiPlan,
    root: Path,
    index_name: str,
    files: list[Any],
    owner: str | None,
    seen: dict[tuple[str, str], str],
) -> None:
    skipped: dict[str, int] = {}
    for entry in files:
        if not isinstance(entry, dict):
            plan.refused.append((f"{index_name}: an entry", "not a file entry of a devpi export"))
            continue
        kind = entry.get("type")
        relpath = entry.get("relpath")
        if kind != "releasefile":
            skipped[str(kind)] = skipped.get(str(kind), 0) + 1
            continue
        if not isinstance(relpath, str) or not relpath:
            plan.refused.append((f"{index_name}: a release file", "no relpath in the export"))
            continue
        path = (root / relpath).resolve()
        label = Path(relpath).name
        if not path.is_relative_to(root) or not is_distribution_name(path.name):
            plan.refused.append((label, f"{relpath} is not a distribution in the export"))
            continue
        if not path.is_file():
            plan.refused.append((label, f"{relpath} is missing from the export"))
            continue
        digest = _export_sha256(entry)
        if digest is None:
            plan.refused.append((label, "the export gives no sha256 for it"))
            continue
        first = seen.get((path.name, digest))
        if first is not None:
            plan.notes.append(f"{path.name} of {index_name} is the same file as {first}'s")
            continue
        if owner is None:
            plan.refused.append(
                (label, f"{index_name}'s user has no email address and no --owner was given")
            )
            continue
        seen[(path.name, digest)] = index_name
        plan.candidates.append(Candidate(path, owner, _upload_time(entry), sha256=digest))
    for kind, count in sorted(skipped.items()):
        what = {"doczip": "documentation zip(s)", "toxresult": "tox result(s)"}.get(kind, kind)
        plan.notes.append(f"index {index_name}: {count} {what} ignored (stockade hosts no docs)")


def create_users(db: Database, users: list[DevpiUser], origin: Origin) -> UserOutcome:
    """Create each user the index lacks, in one transaction; users that exist are kept."""

    def unit(session: Session) -> UserOutcome:
        outcome = UserOutcome()
        for user in users:
            if find_user(session, user.username) is not None:
                outcome.present.append(user.username)
            elif user.email is None:
                outcome.refused.append((user.username, "no email address in the export"))
            else:
                _create(session, user, origin, outcome)
        return outcome

    return db.run_write(unit)


def _create(session: Session, user: DevpiUser, origin: Origin, outcome: UserOutcome) -> None:
    assert user.email is not None
    try:
        with session.begin_nested():
            made = create_user(session, user.username, email=user.email, origin=origin)
    except AccountError as exc:
        outcome.refused.append((user.username, str(exc)))
        return
    if user.password_hash is None:
        outcome.without_password.append(user.username)
    else:
        made.password_hash = user.password_hash
        made.password_changed_at = utcnow()
    outcome.created.append(user.username)


def settle_owners(plan: DevpiPlan, outcome: UserOutcome, default_owner: str | None) -> None:
    """The files of a user who could not be created go to ``default_owner``, or are refused
    when there is none."""
    missing = {name for name, _ in outcome.refused}
    kept = []
    for candidate in plan.candidates:
        if candidate.owner not in missing:
            kept.append(candidate)
        elif default_owner is not None:
            kept.append(replace(candidate, owner=default_owner))
        else:
            plan.refused.append(
                (candidate.filename, f"its owner {candidate.owner!r} could not be created")
            )
    plan.candidates = kept
