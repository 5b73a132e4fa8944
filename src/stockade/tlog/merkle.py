"""RFC 6962 (9162) Merkle tree hashing, proofs and their verification: pure functions.

A tree of ``size`` leaves is read through ``node(level, index)``, the hash of the perfect
subtree holding leaves ``[index << level, (index + 1) << level)``; the log stores every such
node once it is complete (:func:`append`), so any proof is a handful of lookups. Hashing:
leaf = SHA-256(0x00 ‖ entry), node = SHA-256(0x01 ‖ left ‖ right), the empty tree SHA-256("").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "NodeReader",
    "ProofError",
    "append",
    "consistency_proof",
    "frontier_levels",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_frontier",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

NodeReader = Callable[[int, int], bytes]

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not prove what it claims, or a request for an impossible one."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def frontier_levels(size: int) -> list[int]:
    """Levels of the perfect subtrees a tree of ``size`` leaves is made of, left to right."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


def append(
    size: int, frontier: Sequence[bytes], leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Add the leaf hash ``leaf`` as leaf number ``size`` to a tree whose right edge is
    ``frontier`` (the hashes of :func:`frontier_levels`); returns the new frontier and the
    nodes completed by it, as ``(level, index, hash)``, the leaf itself first."""
    stack = list(frontier)
    completed = [(0, size, leaf)]
    h, level, index = leaf, 0, size
    while index & 1:
        h = node_hash(stack.pop(), h)
        level, index = level + 1, index >> 1
        completed.append((level, index, h))
    stack.append(h)
    return stack, completed


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """The tree's root hash from its right edge."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for h in reversed(frontier[:-1]):
        root = node_hash(h, root)
    return root


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << (n - 1).bit_length() - 1


def subtree_hash(lo: int, hi: int, node: NodeReader) -> bytes:
    """MTH(D[lo:hi]) for ``lo`` aligned to the largest power of two below ``hi - lo``."""
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return node(level, lo >> level)
    k = _split(n)
    return node_hash(subtree_hash(lo, lo + k, node), subtree_hash(lo + k, hi, node))


def inclusion_proof(index: int, size: int, node: NodeReader) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 6962 2.1.1), nearest the leaf first."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            proof.append(subtree_hash(lo + k, hi, node))
            hi = lo + k
        else:
            proof.append(subtree_hash(lo, lo + k, node))
            lo, m = lo + k, m - k
    proof.reverse()
    return proof


def consistency_proof(old: int, size: int, node: NodeReader) -> list[bytes]:
    """PROOF(old, D[0:size]) (RFC 6962 2.1.2)."""
    if not 0 < old <= size:
        raise ProofError(f"no consistency proof from size {old} to size {size}")
    proof: list[bytes] = []
    lo, hi, m, whole = 0, size, old, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(subtree_hash(lo + k, hi, node))
            hi = lo + k
        else:
            proof.append(subtree_hash(lo, lo + k, node))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(subtree_hash(lo, hi, node))
    proof.reverse()
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` puts ``leaf`` at ``index`` under ``root``
    (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != root:
        raise ProofError("the inclusion proof does not lead to the checkpoint's root")


def verify_consistency(
    old: int, size: int, proof: Sequence[bytes], old_root: bytes, root: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows the tree of ``old`` leaves with
    ``old_root`` is a prefix of the tree of ``size`` leaves with ``root`` (RFC 9162 2.1.4.2)."""
    if old == size:
        if proof or old_root != root:
            raise ProofError("two different trees of the same size")
        return
    if not 0 < old < size:
        raise ProofError(f"no consistency proof from size {old} to size {size}")
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise ProofError("the consistency proof is empty")
    fn, sn = old - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != old_root or sr != root:
        raise ProofError("the log was rewritten: the old checkpoint is not a prefix of the new one")
