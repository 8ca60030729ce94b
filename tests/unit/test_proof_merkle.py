"""RFC 9162 Merkle trees: the published RFC 6962 test vectors, then properties.

The vectors are the Certificate Transparency reference leaves and tree heads (as published
by transparency-dev/merkle, testonly/constants.go).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.proof import merkle

DATA = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
LEAVES = [merkle.leaf_hash(d) for d in DATA]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
CONSISTENCY = {
    (2, 8): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}


def test_roots_match_the_reference_tree_heads():
    tree = merkle.MemoryTree(LEAVES)
    assert merkle.root(tree, 0) == hashlib.sha256(b"").digest()
    assert [merkle.root(tree, n) for n in range(1, 9)] == ROOTS


@pytest.mark.parametrize(("index", "size"), sorted(INCLUSION))
def test_inclusion_proofs_match_the_reference(index, size):
    proof = merkle.inclusion_proof(merkle.MemoryTree(LEAVES), index, size)
    assert [p.hex() for p in proof] == INCLUSION[(index, size)]
    assert merkle.verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second"), sorted(CONSISTENCY))
def test_consistency_proofs_match_the_reference(first, second):
    proof = merkle.consistency_proof(merkle.MemoryTree(LEAVES), first, second)
    assert [p.hex() for p in proof] == CONSISTENCY[(first, second)]
    assert merkle.verify_consistency(first, second, ROOTS[first - 1], ROOTS[second - 1], proof)


def test_the_frontier_gives_every_root_and_every_perfect_node():
    frontier, tree = merkle.Frontier(), merkle.MemoryTree(LEAVES)
    for n, leaf in enumerate(LEAVES, start=1):
        for level, idx, h in frontier.push(leaf):
            assert tree(level, idx) == h
        assert frontier.root() == ROOTS[n - 1]
    resumed = merkle.Frontier(5, {lv: tree(lv, i) for lv, i in merkle.Frontier.levels(5)})
    for leaf in LEAVES[5:]:
        resumed.push(leaf)
    assert resumed.root() == ROOTS[7]


def test_edge_cases_of_verification():
    proof = merkle.consistency_proof(merkle.MemoryTree(LEAVES), 6, 8)
    assert merkle.verify_consistency(4, 4, ROOTS[3], ROOTS[3], [])
    assert not merkle.verify_consistency(4, 4, ROOTS[3], ROOTS[4], [])
    assert merkle.verify_consistency(0, 8, b"", ROOTS[7], [])
    assert not merkle.verify_consistency(0, 8, b"", ROOTS[7], [ROOTS[0]])
    assert not merkle.verify_consistency(8, 6, ROOTS[7], ROOTS[5], proof)
    assert not merkle.verify_consistency(6, 8, ROOTS[5], ROOTS[7], [])
    assert not merkle.verify_inclusion(LEAVES[5], 8, 8, [], ROOTS[7])
    with pytest.raises(ValueError):
        merkle.inclusion_proof(merkle.MemoryTree(LEAVES), 8, 8)


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_every_leaf_has_a_proof_and_a_flipped_leaf_fails(case):
    n, index = case
    tree = merkle.MemoryTree(_leaves(n))
    root, proof = merkle.root(tree, n), merkle.inclusion_proof(tree, index, n)
    assert merkle.verify_inclusion(tree(0, index), index, n, proof, root)
    flipped = bytes([tree(0, index)[0] ^ 1]) + tree(0, index)[1:]
    assert not merkle.verify_inclusion(flipped, index, n, proof, root)
    if n > 1:
        assert not merkle.verify_inclusion(tree(0, index), (index + 1) % n, n, proof, root)
    if proof:
        assert not merkle.verify_inclusion(tree(0, index), index, n, proof[:-1], root)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))),
       st.data())
def test_consistency_between_any_two_sizes_and_a_changed_leaf_breaks_it(sizes, data):
    m, n = sizes
    leaves = _leaves(n)
    tree = merkle.MemoryTree(leaves)
    old, new = merkle.root(tree, m), merkle.root(tree, n)
    proof = merkle.consistency_proof(tree, m, n)
    assert merkle.verify_consistency(m, n, old, new, proof)
    changed = data.draw(st.integers(0, m - 1))
    rewritten = merkle.MemoryTree(
        leaves[:changed] + [merkle.leaf_hash(b"rewritten")] + leaves[changed + 1:])
    proof2 = merkle.consistency_proof(rewritten, m, n)
    assert not merkle.verify_consistency(m, n, old, merkle.root(rewritten, n), proof2)
