"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, proofs and their verification.

    leaf_hash(d)        SHA-256(0x00 || d)          node_hash(l, r)   SHA-256(0x01 || l || r)
    MTH(D[0:n])         split at k = the largest power of two < n: node(MTH(D[0:k]), MTH(D[k:n]))

    NodeSource          perfect(level, index) -> MTH of the 2^level leaves from index * 2^level
                        (level 0: the leaf hashes). Every hash below is built from such
                        aligned perfect subtrees, so a store that keeps them answers any
                        root or proof for any size without rehashing the leaves.
    inclusion_proof     PATH(m, D[n])       (2.1.3.1)   verify_inclusion    (2.1.3.2)
    consistency_proof   PROOF(m, D[n])      (2.1.4.1)   verify_consistency  (2.1.4.2)
    Frontier            the perfect subtrees of a size (its binary digits): push leaves one by
                        one, get every completed perfect node, and the root at any moment.

Pure: the standard library only. Proofs are lists of 32-byte hashes, bottom up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

NodeSource = Callable[[int, int], bytes]
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree(node: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from perfect subtrees."""
    size = end - start
    if size <= 0:
        return EMPTY_ROOT
    level = size.bit_length() - 1
    if size == 1 << level and start % size == 0:
        return node(level, start >> level)
    k = split(size)
    return node_hash(subtree(node, start, start + k), subtree(node, start + k, end))


def root(node: NodeSource, size: int) -> bytes:
    return subtree(node, 0, size)


def inclusion_proof(node: NodeSource, index: int, size: int) -> list[bytes]:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of {size} leaves")
    return _path(node, index, 0, size)


def _path(node: NodeSource, m: int, start: int, end: int) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return _path(node, m, start, start + k) + [subtree(node, start + k, end)]
    return _path(node, m - k, start + k, end) + [subtree(node, start, start + k)]


def consistency_proof(node: NodeSource, first: int, second: int) -> list[bytes]:
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} leaves to {second}")
    if first == 0 or first == second:
        return []
    return _subproof(node, first, 0, second, True)


def _subproof(node: NodeSource, m: int, start: int, end: int, whole: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if whole else [subtree(node, start, end)]
    k = split(n)
    if m <= k:
        return _subproof(node, m, start, start + k, whole) + [subtree(node, start + k, end)]
    return _subproof(node, m - k, start + k, end, False) + [subtree(node, start, start + k)]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: list[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 2.1.3.2; ``leaf`` is the leaf *hash*."""
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 2.1.4.2, with its edge cases: equal sizes need an empty proof and equal
    roots; every tree is consistent with the empty one (an empty proof)."""
    if not 0 <= first <= second or any(len(p) != 32 for p in proof):
        return False
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        return not proof
    if not proof:
        return False
    path = [first_hash, *proof] if first & (first - 1) == 0 else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_hash and sr == second_hash and sn == 0


class Frontier:
    """The perfect subtrees of a tree of ``size`` leaves, one per set bit of the size."""

    def __init__(self, size: int = 0, nodes: dict[int, bytes] | None = None) -> None:
        self.size, self.nodes = size, dict(nodes or {})
        if sorted(self.nodes) != [lv for lv in range(size.bit_length()) if size >> lv & 1]:
            raise ValueError(f"a frontier of size {size} needs one node per set bit")

    @staticmethod
    def levels(size: int) -> Iterator[tuple[int, int]]:
        """(level, index) of each perfect subtree a frontier of ``size`` holds."""
        for level in range(size.bit_length()):
            if size >> level & 1:
                yield level, (size >> level) - 1

    def push(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; returns every perfect node it completes, (level, index, hash)."""
        index, level, h = self.size, 0, leaf
        done = [(0, index, h)]
        while index & 1:
            h = node_hash(self.nodes.pop(level), h)
            level, index = level + 1, index >> 1
            done.append((level, index, h))
        self.nodes[level] = h
        self.size += 1
        return done

    def root(self) -> bytes:
        h: bytes | None = None
        for level in sorted(self.nodes):
            h = self.nodes[level] if h is None else node_hash(self.nodes[level], h)
        return EMPTY_ROOT if h is None else h


class MemoryTree:
    """Leaf hashes in memory, every perfect node computed once: a NodeSource for tests and
    for the bottom levels of a chunk read from the store."""

    def __init__(self, leaves: list[bytes], offset: int = 0) -> None:
        self.leaves, self.offset = leaves, offset
        self._memo: dict[tuple[int, int], bytes] = {}

    def __call__(self, level: int, index: int) -> bytes:
        if level == 0:
            return self.leaves[index - self.offset]
        key = (level, index)
        if key not in self._memo:
            self._memo[key] = node_hash(self(level - 1, 2 * index), self(level - 1, 2 * index + 1))
        return self._memo[key]
