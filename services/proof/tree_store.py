"""The Merkle tree over the store, kept in PostgreSQL (merkle_nodes, migration 0010).

    leaves          commit_log in seq order: leaf i = leaf_hash(event_hash of seq i + 1)
    grow(a, b)      extend the persisted nodes from a to b leaves: reads the frontier at the
                    last 64-leaf boundary below a and the leaves from there, writes the new
                    perfect nodes of level >= CHUNK_LEVEL (COPY); returns the root at b
    proofs          any inclusion or consistency proof for a size the nodes cover, in two
                    passes: the pure proof code runs once against a recorder to learn which
                    perfect nodes it needs, they are fetched in two queries (stored nodes;
                    the leaves of the chunks below CHUNK_LEVEL), and it runs again for real

Only nodes of whole chunks are stored, so 1M events cost ~31k rows, not 2M.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import psycopg

from services.proof import merkle

CHUNK_LEVEL = 6
CHUNK = 1 << CHUNK_LEVEL
BATCH = 50_000
T = TypeVar("T")


def leaf_hashes(conn: psycopg.Connection, start: int, end: int) -> Iterator[list[bytes]]:
    """Leaf hashes of leaves [start, end), in batches."""
    leaf = merkle.leaf_hash
    while start < end:
        stop = min(end, start + BATCH)
        rows = conn.execute(
            "SELECT event_hash FROM commit_log WHERE seq > %s AND seq <= %s ORDER BY seq",
            (start, stop), binary=True,
        ).fetchall()
        if len(rows) != stop - start:
            raise RuntimeError(f"commit_log has a gap between seq {start + 1} and {stop}")
        yield [leaf(bytes(r[0])) for r in rows]
        start = stop


def committed_size(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM commit_log").fetchone()
    return int(row[0]) if row else 0


def grow(conn: psycopg.Connection, old_size: int, new_size: int) -> bytes:
    """Persist the nodes for leaves [old_size, new_size) (caller's transaction); the root."""
    start = old_size - old_size % CHUNK
    frontier = merkle.Frontier(start, _stored(conn, merkle.Frontier.levels(start)))
    nodes = []  # one per 32 leaves: small enough to hold, then one COPY
    for batch in leaf_hashes(conn, start, new_size):
        for leaf in batch:
            for level, idx, h in frontier.push(leaf):
                if level >= CHUNK_LEVEL:
                    nodes.append((level, idx, h))
    with conn.cursor() as cur, cur.copy("COPY merkle_nodes (level, idx, hash) FROM STDIN") as cp:
        for row in nodes:
            cp.write_row(row)
    return frontier.root()


def _stored(conn: psycopg.Connection, keys: Iterable[tuple[int, int]]) -> dict[int, bytes]:
    keys = list(keys)
    if not keys:
        return {}
    rows = conn.execute(
        "SELECT n.level, n.hash FROM unnest(%s::smallint[], %s::bigint[]) AS k(level, idx)"
        " JOIN merkle_nodes n USING (level, idx)",
        ([k[0] for k in keys], [k[1] for k in keys]),
    ).fetchall()
    if len(rows) != len(keys):
        raise RuntimeError("merkle_nodes lacks nodes below the newest checkpoint")
    return {int(level): bytes(h) for level, h in rows}


def _recorder() -> tuple[merkle.NodeSource, set[tuple[int, int]]]:
    needed: set[tuple[int, int]] = set()

    def record(level: int, idx: int) -> bytes:
        needed.add((level, idx))
        return b"\x00" * 32

    return record, needed


def _fetch(conn: psycopg.Connection, needed: set[tuple[int, int]]) -> merkle.NodeSource:
    high = sorted(k for k in needed if k[0] >= CHUNK_LEVEL)
    nodes: dict[tuple[int, int], bytes] = {}
    if high:
        for level, idx, h in conn.execute(
            "SELECT n.level, n.idx, n.hash FROM unnest(%s::smallint[], %s::bigint[])"
            " AS k(level, idx) JOIN merkle_nodes n USING (level, idx)",
            ([k[0] for k in high], [k[1] for k in high]),
        ):
            nodes[(int(level), int(idx))] = bytes(h)
        if len(nodes) != len(high):
            raise RuntimeError("merkle_nodes lacks nodes below the newest checkpoint")
    seqs = sorted({s for level, idx in needed if level < CHUNK_LEVEL
                   for s in range((idx << level) + 1, ((idx + 1) << level) + 1)})
    leaves = {int(s) - 1: merkle.leaf_hash(bytes(h)) for s, h in conn.execute(
        "SELECT seq, event_hash FROM commit_log WHERE seq = ANY(%s)", (seqs,))}
    if len(leaves) != len(seqs):
        raise RuntimeError("commit_log lacks leaves below the newest checkpoint")

    def low(level: int, idx: int) -> bytes:
        if level == 0:
            return leaves[idx]
        return merkle.node_hash(low(level - 1, 2 * idx), low(level - 1, 2 * idx + 1))

    return lambda level, idx: nodes[(level, idx)] if level >= CHUNK_LEVEL else low(level, idx)


def two_pass(conn: psycopg.Connection, compute: Callable[[merkle.NodeSource], T]) -> T:
    """Run ``compute`` (pure proof code) against the stored tree."""
    record, needed = _recorder()
    compute(record)
    return compute(_fetch(conn, needed))


def inclusion_proofs(
    conn: psycopg.Connection, indices: list[int], size: int
) -> dict[int, list[bytes]]:
    return two_pass(conn, lambda src: {i: merkle.inclusion_proof(src, i, size) for i in indices})


def consistency_proof(conn: psycopg.Connection, first: int, second: int) -> list[bytes]:
    return two_pass(conn, lambda src: merkle.consistency_proof(src, first, second))
