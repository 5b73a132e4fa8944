"""Each role's metadata, built with python-tuf's Metadata API and signed.

PEP 458's layout: root and targets are signed offline; targets delegates every target path to
``bins``, which delegates them to ``2**bit_length`` hashed bins (``bin-0`` …, a succinct
delegation); bins, bin-n, snapshot and timestamp are signed with the online key. Consistent
snapshots: every file but ``timestamp.json`` is served as ``<version>.<role>.json``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from securesystemslib.signer import Key, Signer
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

__all__ = [
    "BINS",
    "EXPIRY",
    "TARGET_PATTERNS",
    "bin_number",
    "bins_role",
    "new_root",
    "new_targets",
    "serialize",
    "sign",
    "snapshot_role",
    "succinct",
    "targets_of_bin",
    "timestamp_role",
]

BINS = "bins"
# PEP 458 (as the issue sets them): timestamp, snapshot and bin-n one day; the others a year.
EXPIRY: Mapping[str, dt.timedelta] = {
    Root.type: dt.timedelta(days=365),
    Targets.type: dt.timedelta(days=365),
    BINS: dt.timedelta(days=365),
    "bin-n": dt.timedelta(days=1),
    Snapshot.type: dt.timedelta(days=1),
    Timestamp.type: dt.timedelta(days=1),
}
# Every target path: a file (packages/aa/bb/rest/filename) or a page (simple/name/index.*).
# TUF matches a pattern component by component, so each depth is spelled out.
TARGET_PATTERNS = ["packages/*/*/*/*", "simple/*/*"]
_SERIALIZER = JSONSerializer(compact=True)


def expiry(kind: str, now: dt.datetime) -> dt.datetime:
    """When metadata of ``kind`` signed at ``now`` expires (whole seconds, UTC)."""
    return (now + EXPIRY[kind]).replace(microsecond=0)


def sign(signed: Root | Targets | Snapshot | Timestamp, signers: Iterable[Signer]) -> Metadata[Any]:
    """``signed`` wrapped and signed by every one of ``signers``."""
    md: Metadata[Any] = Metadata(signed)
    for signer in signers:
        md.sign(signer, append=True)
    return md


def serialize(md: Metadata[Any]) -> bytes:
    """The bytes served for ``md``."""
    return md.to_bytes(_SERIALIZER)


def new_root(
    root_keys: Sequence[Key],
    threshold: int,
    targets_key: Key,
    online_key: Key,
    now: dt.datetime,
) -> Root:
    """Version 1 of root: its own keys and threshold, the offline targets key, and the online
    key for snapshot and timestamp."""
    root = Root(expires=expiry(Root.type, now), consistent_snapshot=True)
    for key in root_keys:
        root.add_key(key, Root.type)
    root.roles[Root.type].threshold = threshold
    root.add_key(targets_key, Targets.type)
    root.add_key(online_key, Snapshot.type)
    root.add_key(online_key, Timestamp.type)
    return root


def new_targets(online_key: Key, version: int, now: dt.datetime) -> Targets:
    """Top-level targets: no targets of its own, every path delegated to ``bins``."""
    role = DelegatedRole(
        name=BINS,
        keyids=[online_key.keyid],
        threshold=1,
        terminating=True,
        paths=list(TARGET_PATTERNS),
    )
    delegations = Delegations(keys={online_key.keyid: online_key}, roles={BINS: role})
    return Targets(version=version, expires=expiry(Targets.type, now), delegations=delegations)


def succinct(online_key: Key, bit_length: int) -> SuccinctRoles:
    """The hashed bins: ``2**bit_length`` roles named ``bin-<hex>``."""
    return SuccinctRoles(
        keyids=[online_key.keyid], threshold=1, bit_length=bit_length, name_prefix="bin"
    )


def bins_role(online_key: Key, bit_length: int, version: int, now: dt.datetime) -> Targets:
    """The ``bins`` role: delegates every path to its hashed bin."""
    delegations = Delegations(
        keys={online_key.keyid: online_key}, succinct_roles=succinct(online_key, bit_length)
    )
    return Targets(version=version, expires=expiry(BINS, now), delegations=delegations)


def bin_number(roles: SuccinctRoles, path: str) -> int:
    """The number of the bin that holds ``path``."""
    return int(roles.get_role_for_target(path).rsplit("-", 1)[1], 16)


def targets_of_bin(
    version: int, now: dt.datetime, targets: Iterable[tuple[str, int, str]]
) -> Targets:
    """One bin's metadata, from its (path, length, sha256) targets."""
    files = {
        path: TargetFile(length=length, hashes={"sha256": sha256}, path=path)
        for path, length, sha256 in targets
    }
    return Targets(version=version, expires=expiry("bin-n", now), targets=files)


def snapshot_role(version: int, now: dt.datetime, versions: Mapping[str, int]) -> Snapshot:
    """Snapshot: the version of every targets role (``versions`` by role name)."""
    meta = {f"{role}.json": MetaFile(version=v) for role, v in sorted(versions.items())}
    return Snapshot(version=version, expires=expiry(Snapshot.type, now), meta=meta)


def timestamp_role(version: int, now: dt.datetime, snapshot_version: int) -> Timestamp:
    """Timestamp: the newest snapshot's version."""
    return Timestamp(
        version=version,
        expires=expiry(Timestamp.type, now),
        snapshot_meta=MetaFile(version=snapshot_version),
    )
