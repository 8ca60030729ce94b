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
from collections import defaultdict
from dataclasses import dataclass

import psycopg

from services.common.eventstore import GENESIS

SEQUENCER_LOCK = 0x5E0_0002
IDLE_LOW_SLACK = 10_000  # xids the line may lag when nothing was sequenced (a longer scan only)


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


def order_for_commit(
    candidates: list[Candidate], heads: dict[str, int]
) -> tuple[list[Candidate], list[Candidate]]:
    """Split candidates (in txid order) into those that can be sequenced now, in order, and
    those whose stream predecessor is not sequenced yet. ``heads`` is the last sequenced
    version of each stream (absent = 0). An event ahead of its predecessor waits and goes
    right after it; nothing else moves, so other events keep their commit (txid) order."""
    nxt: dict[str, int] = {}
    waiting: dict[str, dict[int, Candidate]] = defaultdict(dict)
    ready: list[Candidate] = []
    for c in candidates:
        s = c.stream_id
        nxt.setdefault(s, heads.get(s, 0) + 1)
        if c.version != nxt[s]:
            waiting[s][c.version] = c
            continue
        ready.append(c)
        nxt[s] += 1
        while nxt[s] in waiting[s]:
            ready.append(waiting[s].pop(nxt[s]))
            nxt[s] += 1
    deferred = sorted(
        (c for w in waiting.values() for c in w.values()), key=lambda c: (c.txid, c.position)
    )
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
        # No FOR UPDATE and no upsert on every pass: both take an xid and write, and the
        # advisory lock already makes this the only sequencer. An idle pass writes nothing.
        state = conn.execute(
            "SELECT low_txid::text FROM relay_state WHERE name = %s", (name,)
        ).fetchone()
        if state is None:
            conn.execute(
                "INSERT INTO relay_state (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,)
            )
        low = int(state[0]) if state else 0
        rows = conn.execute(
            "SELECT position, event_id, stream_id, version, hash, txid::text FROM events e"
            " WHERE txid >= %s::text::xid8 AND txid < %s::text::xid8"
            " AND NOT EXISTS (SELECT 1 FROM commit_log l WHERE l.position = e.position)"
            " ORDER BY e.txid, e.position LIMIT %s",  # e.: not the txid::text output column
            (str(low), str(xmin), limit + 1),
        ).fetchall()
        truncated = len(rows) > limit
        candidates = [
            Candidate(r[0], r[1], r[2], r[3], bytes(r[4]), int(r[5])) for r in rows[:limit]
        ]
        new_low = int(rows[limit][5]) if truncated else xmin
        if candidates:
            streams = sorted({c.stream_id for c in candidates})
            heads: dict[str, int] = dict(
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
        # An idle pass moves the line only when it lags far: the UPDATE takes an xid, which
        # moves xmin, so moving it every time would write a row per poll, forever.
        if new_low != low and (candidates or new_low - low > IDLE_LOW_SLACK):
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
            copy.write_row(
                (seq, c.position, c.event_id, c.stream_id, c.version, c.hash, prev, digest)
            )
            prev = digest
