"""The sequencer: places committed events in commit order and extends the global hash chain.

Why not "position > last seen": ``position`` comes from a sequence taken *before* commit,
so a slow transaction's rows become visible after faster, later-numbered ones, and a
poller that moved past them never sees them. Instead every event carries its writer's
transaction id (xid8). All transactions below ``pg_snapshot_xmin(pg_current_snapshot())``
are over, so the set of rows below that line is final: those are taken, never more.

Within that set, rows go in (txid, position) order, except that a stream's events always go
in version order: a writer may have been given its txid before it read the stream head (it
wrote something else first), so a later version can carry an earlier txid. An event whose
predecessor in its stream is not final yet waits for the next pass.

    pass:  xmin -> candidates (low_txid <= txid < xmin, not yet in commit_log)
           -> per-stream version order -> commit_log rows (seq, global hash) -> low_txid

One sequencer runs at a time (a transaction-level advisory lock); writers take no global
lock. ``low_txid`` is the line below which every event is in commit_log.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from dataclasses import dataclass

import psycopg

from services.common.eventstore import GENESIS

SEQUENCER_LOCK = 0x5E0_0002


@dataclass(frozen=True)
class Candidate:
    position: int
    event_id: object
    stream_id: str
    version: int
    hash: bytes
    txid: int


def global_hash(prev: bytes, event_hash: bytes) -> bytes:
    return hashlib.sha256(prev + event_hash).digest()


def order_for_commit(candidates: list[Candidate], heads: dict[str, int]) -> tuple[list[Candidate], list[Candidate]]:
    """Split candidates (in txid order) into those that can be sequenced now, in order, and
    those whose stream predecessor is not sequenced yet. ``heads`` is the last sequenced
    version of each stream (absent = 0)."""
    by_stream: dict[str, deque[Candidate]] = defaultdict(deque)
    for c in sorted(candidates, key=lambda c: (c.stream_id, c.version)):
        by_stream[c.stream_id].append(c)
    nxt = {s: heads.get(s, 0) + 1 for s in by_stream}
    ready: list[Candidate] = []
    for c in candidates:
        queue = by_stream[c.stream_id]
        while queue and queue[0].version == nxt[c.stream_id]:
            ready.append(queue.popleft())
            nxt[c.stream_id] += 1
    deferred = [c for q in by_stream.values() for c in q]
    return ready, deferred


def sequence_pass(conn: psycopg.Connection, name: str = "main", limit: int = 5000) -> int:
    """One pass in its own transaction; returns how many events were sequenced."""
    with conn.transaction():
        row = conn.execute(
            "SELECT pg_try_advisory_xact_lock(%s), pg_snapshot_xmin(pg_current_snapshot())::text",
            (SEQUENCER_LOCK,),
        ).fetchone()
        assert row is not None
        locked, xmin = row[0], int(row[1])
        if not locked:
            return 0
        conn.execute(
            "INSERT INTO relay_state (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,)
        )
        state = conn.execute(
            "SELECT low_txid::text FROM relay_state WHERE name = %s FOR UPDATE", (name,)
        ).fetchone()
        assert state is not None
        low = int(state[0])
        rows = conn.execute(
            "SELECT position, event_id, stream_id, version, hash, txid::text FROM events e"
            " WHERE txid >= %s::text::xid8 AND txid < %s::text::xid8"
            " AND NOT EXISTS (SELECT 1 FROM commit_log l WHERE l.position = e.position)"
            " ORDER BY txid, position LIMIT %s",
            (str(low), str(xmin), limit + 1),
        ).fetchall()
        truncated = len(rows) > limit
        candidates = [
            Candidate(r[0], r[1], r[2], r[3], bytes(r[4]), int(r[5])) for r in rows[:limit]
        ]
        new_low = int(rows[limit][5]) if truncated else xmin
        if candidates:
            streams = sorted({c.stream_id for c in candidates})
            heads = dict(
                conn.execute(
                    "SELECT stream_id, max(version) FROM commit_log"
                    " WHERE stream_id = ANY(%s) GROUP BY stream_id",
                    (streams,),
                ).fetchall()
            )
            ready, deferred = order_for_commit(candidates, heads)
            if deferred:
                new_low = min(new_low, min(c.txid for c in deferred))
            _append_commit_log(conn, ready)
        else:
            ready = []
        if new_low != low:
            conn.execute(
                "UPDATE relay_state SET low_txid = %s::text::xid8, updated_at = now()"
                " WHERE name = %s",
                (str(new_low), name),
            )
        return len(ready)


def _append_commit_log(conn: psycopg.Connection, ready: list[Candidate]) -> None:
    if not ready:
        return
    last = conn.execute("SELECT seq, hash FROM commit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0], bytes(last[1])) if last else (0, GENESIS)
    with conn.cursor() as cur, cur.copy(
        "COPY commit_log (seq, position, event_id, stream_id, version, event_hash, prev_hash, hash)"
        " FROM STDIN"
    ) as copy:
        for c in ready:
            seq += 1
            digest = global_hash(prev, c.hash)
            copy.write_row((seq, c.position, c.event_id, c.stream_id, c.version, c.hash, prev, digest))
            prev = digest
