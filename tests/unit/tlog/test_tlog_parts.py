"""The log's pure parts: tile paths (C2SP tlog-tiles), signed notes, and the Merkle proofs
against RFC 6962's definitions for every size up to 300."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stockade.tlog import merkle
from stockade.tlog.note import (
    Checkpoint,
    NoteError,
    VerifierKey,
    format_checkpoint,
    parse_checkpoint,
    sign_note,
    verifier_key,
)
from stockade.tlog.tiles import Tile, parse_tile_path, tile_path


def test_tile_paths_follow_the_spec() -> None:
    assert tile_path(Tile(0, 1234067, 256)) == "tile/0/x001/x234/067"
    assert tile_path(Tile(None, 5, 12)) == "tile/entries/005.p/12"
    assert parse_tile_path("0/x001/x234/067") == Tile(0, 1234067, 256)
    assert parse_tile_path("2/001.p/255") == Tile(2, 1, 255)
    for bad in (
        "0/1234",
        "0/x000/001",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/07",
        "64/000",
        "e/000",
    ):
        assert parse_tile_path(bad) is None, bad


def test_a_signed_checkpoint_opens_only_with_its_key_and_unchanged() -> None:
    key = Ed25519PrivateKey.generate()
    text = format_checkpoint(Checkpoint("example.org/log", 7, bytes(range(32))))
    note = sign_note(text, "example.org/log", key)
    verifier = VerifierKey.parse(str(verifier_key("example.org/log", key)))
    assert parse_checkpoint(verifier.open(note)) == Checkpoint(
        "example.org/log", 7, bytes(range(32))
    )
    with pytest.raises(NoteError):
        verifier.open(note.replace(b"\n7\n", b"\n8\n"))
    other = verifier_key("example.org/log", Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="not signed"):
        other.open(note)


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def test_proofs_verify_for_every_size_and_a_wrong_one_does_not() -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(300)]
    nodes: dict[tuple[int, int], bytes] = {}
    frontier: list[bytes] = []
    roots = []
    for i, leaf in enumerate(leaves):
        frontier, done = merkle.append(i, frontier, leaf)
        nodes.update({(lv, ix): h for lv, ix, h in done})
        roots.append(merkle.root_from_frontier(frontier))
        assert roots[-1] == _mth(leaves[: i + 1])

    def node(level: int, index: int) -> bytes:
        return nodes[(level, index)]

    for n in [*range(1, 40), 255, 256, 257, 300]:
        root = roots[n - 1]
        for m in range(0, n, max(1, n // 17)):
            proof = merkle.inclusion_proof(m, n, node)
            merkle.verify_inclusion(leaves[m], m, n, proof, root)
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(leaves[(m + 1) % 300], m, n, proof, root)
        for old in range(1, n, max(1, n // 13)):
            proof = merkle.consistency_proof(old, n, node)
            merkle.verify_consistency(old, n, proof, roots[old - 1], root)
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(old, n, proof, merkle.leaf_hash(b"x"), root)
