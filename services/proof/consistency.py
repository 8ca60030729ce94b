"""``shouwen verify-checkpoint OLD``: is today's store consistent with a checkpoint someone
kept? This is what catches a rewrite by the database's own administrator, who can lift the
append-only triggers and recompute every hash chain, but cannot re-sign a checkpoint that
left the building.

    1. OLD's signature verifies with the key
    2. the store still holds at least OLD's number of events in commit order
    3. MTH over the first OLD.size leaves, recomputed from the events' own stored hashes
       (commit_log order; not from merkle_nodes nor commit_log's copies) = OLD's root
    4. the newest checkpoint's root = the recomputed root at its size, and the consistency
       proof OLD -> newest, built from the persisted nodes, verifies (RFC 9162 2.1.4.2)

The first failed step is the answer. A rewrite found at step 3 can be narrowed down by
comparing events with commit_log (`shouwen verify`) or with a copy of the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.proof import checkpointer, merkle, note, tree_store

_LEAVES = (
    "SELECT l.seq, e.hash FROM commit_log l LEFT JOIN events e ON e.position = l.position"
    " WHERE l.seq <= %s ORDER BY l.seq"
)


@dataclass
class ConsistencyReport:
    old: note.Checkpoint
    problems: list[str] = field(default_factory=list)
    newest_size: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.ok:
            return f"INCONSISTENT with checkpoint #{self.old.tree_size}: " + "; ".join(
                self.problems)
        newest = f" and with the newest checkpoint #{self.newest_size}" if self.newest_size else ""
        return (f"OK: the store's first {self.old.tree_size} events still hash to the root"
                f" of the kept checkpoint ({self.old.root_hash.hex()[:16]}…){newest}")


def recomputed_roots(
    conn: psycopg.Connection, sizes: list[int]
) -> tuple[dict[int, bytes], dict[int, bytes]]:
    """Roots at each of ``sizes``, from the events' own hashes, in one pass; and the hash
    of every whole 64-event chunk on the way (to point at where a rewrite is)."""
    wanted, roots, chunks = sorted(set(sizes)), {}, {}
    frontier, leaf = merkle.Frontier(), merkle.leaf_hash
    with conn.cursor(name="shouwen_verify_checkpoint", binary=True) as cur:
        cur.itersize = tree_store.BATCH
        cur.execute(_LEAVES, (wanted[-1],))
        for seq, digest in cur:
            # a missing event (NULL) or a gap in seq makes the size, and so the root, wrong
            if seq != frontier.size + 1:
                break
            for level, idx, h in frontier.push(leaf(bytes(digest) if digest is not None else b"")):
                if level == tree_store.CHUNK_LEVEL:
                    chunks[idx] = h
            if frontier.size in wanted:
                roots[frontier.size] = frontier.root()
    return roots, chunks


def _where(conn: psycopg.Connection, chunks: dict[int, bytes], size: int) -> str:
    """The first whole chunk that differs from the tree persisted when it was checkpointed
    (a hint only: whoever rewrote the events may have rewritten merkle_nodes too)."""
    level = tree_store.CHUNK_LEVEL
    for idx, h in conn.execute(
        "SELECT idx, hash FROM merkle_nodes WHERE level = %s AND idx < %s ORDER BY idx",
        (level, size >> level),
    ):
        if chunks.get(idx) != bytes(h):
            return (f"; the first changed events lie in commit seq {(idx << level) + 1}"
                    f"..{(idx + 1) << level}")
    return ""


def check(
    conn: psycopg.Connection, old: note.Checkpoint, key: Ed25519PublicKey
) -> ConsistencyReport:
    report = ConsistencyReport(old)
    try:
        old.verify(key)
    except note.CheckpointError as exc:
        report.problems.append(f"the kept checkpoint: {exc}")
        return report
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        newest = checkpointer.latest(conn)
        size = tree_store.committed_size(conn)
        if size < old.tree_size:
            report.problems.append(f"the store holds {size} events in commit order, the kept"
                                   f" checkpoint {old.tree_size}: events were removed")
            return report
        sizes = [old.tree_size] + ([newest.tree_size] if newest else [])
        roots, chunks = recomputed_roots(conn, sizes)
        if roots.get(old.tree_size) != old.root_hash:
            report.problems.append(
                f"the store's first {old.tree_size} events no longer hash to the kept root"
                f" {old.root_hash.hex()[:16]}…: events were altered, removed or reordered"
                " after it was signed" + _where(conn, chunks, old.tree_size))
            return report
        if newest is None or newest.tree_size < old.tree_size:
            return report
        report.newest_size = newest.tree_size
        if roots.get(newest.tree_size) != newest.root_hash:
            report.problems.append(f"the newest checkpoint #{newest.tree_size} no longer"
                                   " matches the store's events")
        try:
            proof = tree_store.consistency_proof(conn, old.tree_size, newest.tree_size)
        except RuntimeError as exc:  # persisted nodes missing
            report.problems.append(str(exc))
            return report
        if not merkle.verify_consistency(old.tree_size, newest.tree_size, old.root_hash,
                                         newest.root_hash, proof):
            report.problems.append(f"no valid consistency proof from #{old.tree_size} to the"
                                   f" newest checkpoint #{newest.tree_size}")
    return report
