"""Turning TUF on (``stockade tuf init``) and signing a new root (``stockade tuf sign-root``)."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Root, Snapshot, Targets, Timestamp

from stockade.config import Settings
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.jobs.models import JobLock
from stockade.tuf.keys import generate_key_file, offline_signers, online_key_uri
from stockade.tuf.models import TufState
from stockade.tuf.roles import expiry, new_root, new_targets, sign
from stockade.tuf.store import current_roles, latest_root, store

__all__ = ["RootInfo", "TufError", "init_repository", "root_info", "sign_root"]


# The job (and lease) that signs metadata: stockade.tuf.job's TUF_JOB.
TUF_LEASE = "tuf-publish"


class TufError(Exception):
    """An operator's TUF command cannot go on; the message says why."""


@dataclass(frozen=True)
class RootInfo:
    """The newest root: its version, expiry, and the SHA-256 of its bytes (what a client
    checks before it trusts the root it bootstraps from)."""

    version: int
    expires: dt.datetime
    fingerprint: str


def root_info(session: Session) -> RootInfo | None:
    """The newest root's version, expiry and fingerprint; None while TUF is off."""
    loaded = latest_root(session)
    if loaded is None:
        return None
    md, body = loaded
    return RootInfo(md.signed.version, md.signed.expires, hashlib.sha256(body).hexdigest())


def _online_key_path(settings: Settings) -> Path:
    uri = online_key_uri(settings)
    if not uri.startswith("file2:"):
        raise TufError(
            "tuf_online_signer names a signer other than a key file: create its key there and "
            "leave the setting empty for this command"
        )
    return Path(uri.removeprefix("file2:"))


def init_repository(
    db: Database,
    settings: Settings,
    keys_dir: Path,
    *,
    root_keys: int,
    threshold: int,
    bit_length: int,
    origin: Origin,
) -> RootInfo:
    """Create the offline keys (``root-1.pem`` …, ``targets.pem``) in ``keys_dir``, the online
    key, root and targets version 1, and turn TUF on (the first batch then targets every file
    and page)."""
    if not 1 <= threshold <= root_keys:
        raise TufError("the threshold must be between 1 and the number of root keys")
    if not 0 <= bit_length <= 32:
        raise TufError("the bin count must be a power of two between 1 and 2**32")
    with db.read() as session:
        if session.get(TufState, 1) is not None:
            raise TufError("TUF is already on for this data folder (see `stockade tuf sign-root`)")
    if keys_dir.exists() and any(keys_dir.glob("*.pem")):
        raise TufError(f"{keys_dir} already holds keys: give an empty folder")
    online_path = _online_key_path(settings)
    if online_path.exists():
        raise TufError(f"{online_path} already exists: remove it first")
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    roots = [generate_key_file(keys_dir / f"root-{i}.pem") for i in range(1, root_keys + 1)]
    targets = generate_key_file(keys_dir / "targets.pem")
    online = generate_key_file(online_path)
    now = utcnow()
    root_md = sign(
        new_root(
            [s.public_key for s in roots], threshold, targets.public_key, online.public_key, now
        ),
        roots,
    )
    targets_md = sign(new_targets(online.public_key, 1, now), [targets])

    def unit(session: Session) -> RootInfo:
        if session.get(TufState, 1) is not None:
            raise TufError("TUF is already on for this data folder")
        store(session, Root.type, root_md, now)
        store(session, Targets.type, targets_md, now)
        session.add(TufState(id=1, journal_id=0, bit_length=bit_length, resign_all=True))
        if session.get(JobLock, TUF_LEASE) is None:
            session.add(JobLock(name=TUF_LEASE))  # the batches lock it (see tuf.publish)
        session.flush()
        info = root_info(session)
        assert info is not None
        record(
            session, "tuf:init", origin=origin, version=info.version, fingerprint=info.fingerprint
        )
        return info

    return db.run_write(unit)


def sign_root(
    db: Database,
    settings: Settings,
    keys_dir: Path,
    *,
    rotate_online_key: bool,
    origin: Origin,
) -> RootInfo:
    """A new version of root (and of targets), renewed for a year and signed with the root keys
    in ``keys_dir`` (a threshold of the current root's); with ``rotate_online_key``, a new
    online key replaces the old one everywhere (the next batch re-signs every online role)."""
    with db.read() as session:
        loaded = latest_root(session)
    if loaded is None:
        raise TufError("TUF is off for this data folder: run `stockade tuf init` first")
    old = loaded[0]
    root_signers = offline_signers(keys_dir, "root-")
    targets_signers = offline_signers(keys_dir, "targets")
    if not root_signers or not targets_signers:
        raise TufError(f"{keys_dir} holds no root-*.pem or no targets.pem")
    now = utcnow()
    root = copy.deepcopy(old.signed)
    root.version += 1
    root.expires = expiry(Root.type, now)
    online_key = root.get_key(root.roles[Timestamp.type].keyids[0])
    online_path = next_path = None
    if rotate_online_key:
        online_path = _online_key_path(settings)
        next_path = online_path.with_name(online_path.name + ".next")
        new_online = generate_key_file(next_path).public_key
        for role in (Snapshot.type, Timestamp.type):
            root.revoke_key(online_key.keyid, role)
            root.add_key(new_online, role)
        online_key = new_online
    root_md = sign(root, root_signers)
    try:
        old.verify_delegate(Root.type, root_md)
        root_md.verify_delegate(Root.type, root_md)
    except UnsignedMetadataError as exc:
        raise TufError(f"not enough root keys in {keys_dir} for the threshold: {exc}") from exc

    def unit(session: Session) -> RootInfo:
        current = latest_root(session)
        if current is None or current[0].signed.version != old.signed.version:
            raise TufError("root changed meanwhile: run the command again")
        targets_version = _targets_version(session) + 1
        store(session, Root.type, root_md, now)
        store(
            session,
            Targets.type,
            sign(new_targets(online_key, targets_version, now), targets_signers),
            now,
        )
        state = session.get(TufState, 1)
        assert state is not None
        state.resign_all = True
        session.flush()
        info = root_info(session)
        assert info is not None
        record(
            session,
            "tuf:root:sign",
            origin=origin,
            version=info.version,
            fingerprint=info.fingerprint,
        )
        if rotate_online_key:
            record(session, "tuf:online-key:rotate", origin=origin, keyid=online_key.keyid)
        return info

    info = db.run_write(unit)
    if online_path is not None and next_path is not None:
        os.replace(next_path, online_path)
    return info


def _targets_version(session: Session) -> int:
    return current_roles(session)[Targets.type].version
