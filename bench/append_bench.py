"""Appending to the event store, and verifying it, each beside a raw baseline in the same run.

    single   8 writers (own autocommit connection, own streams), one event per append
             vs the same rows INSERTed into a table with only a primary key, one per commit
    batch    8 writers, 100 events of one stream per append (one commit)
             vs the same rows in one multi-row INSERT (one JSON array of rows, as the store;
             the rows' JSON is built inside the timed loop, as the store builds its own)
    processes  the single and batch runs again with each writer a process of its own (as
             intake and routing replicas are), store and raw alike: no interpreter lock
             shared by the 8 writers; both layouts carry the goals
    verify   ``verify_store`` over the store the two runs built (best of 3)
             vs sha256 over the same canonical bytes in a bare loop (best of 3)

Events are built before the clock starts (callers build them too): what is timed is the
store's own work — validation, the stream head, hashing, the INSERT and the commit.
"""

from __future__ import annotations

import hashlib
import time
from multiprocessing import get_context
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from bench.common import figure, run_together
from events import CloudEvent, new_event
from events.canonical import canonical_bytes
from events.case import CaseReceived, Channel
from services.common.eventstore import _INSERT_ROWS, GENESIS, EventStore, chain_hash
from services.common.integrity import verify_store
from services.relay.sequencer import sequence_pass

WRITERS = 8
STREAMS_PER_WRITER = 20
BATCH = 100

_RAW_TABLE = (
    "CREATE TABLE IF NOT EXISTS raw_events (position bigserial PRIMARY KEY, event_id uuid,"
    " stream_id text, version integer, type text, source text, time timestamptz,"
    " dataschema text, actor text, causation_id uuid, correlation_id uuid, data jsonb,"
    " prev_hash bytea, hash bytea)"
)
# The same statements the store uses (eventstore._INSERT_CHAINED's columns, _INSERT_ROWS),
# into another table.
_RAW_INTO = (
    "INSERT INTO raw_events (event_id, stream_id, version, type, source, time, dataschema,"
    " actor, causation_id, correlation_id, data, prev_hash, hash)"
)
_RAW_ONE = _RAW_INTO + " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
_RAW_MANY = _RAW_INTO + _INSERT_ROWS[_INSERT_ROWS.index(" SELECT"):]


def _orjson(value: Any) -> bytes:
    """The raw rows' JSON, as an application would write it (UUIDs as text)."""
    return orjson.dumps(value, default=str)


def received(case_id: str, n: int) -> CloudEvent:
    payload = CaseReceived(
        channel=Channel.window, receipt_number=f"R-{case_id}-{n}", unit_id="U-0931-07",
        matter="补办社会保障卡，原卡遗失，需要办理挂失并重新制卡", inquirer_name="张三",
        inquirer_phone="13800000000", inquirer_address="甘肃省武威市凉州区东大街12号",
        first_responder_id="S-1042", first_responder_name="李四",
        first_responder_duty="社保窗口受理", first_responder_contact="0935-1234567",
    )
    return new_event(payload, subject=case_id, actor="staff:S-1042")


def plan(prefix: str, writer: int, appends: int, size: int) -> list[tuple[str, list[CloudEvent]]]:
    """A writer's appends: ``size`` events each, round-robin over its own streams."""
    out = []
    for i in range(appends):
        case_id = f"{prefix}-{writer}-{i % STREAMS_PER_WRITER}"
        out.append((case_id, [received(case_id, i * size + k) for k in range(size)]))
    return out


def raw_rows(appends: list[tuple[str, list[CloudEvent]]]) -> list[list[tuple[Any, ...]]]:
    """The rows the store would write for ``appends``, hashes included (built untimed)."""
    heads: dict[str, tuple[int, bytes]] = {}
    out = []
    for case_id, events in appends:
        version, prev = heads.get(case_id, (0, GENESIS))
        rows = []
        for event in events:
            version += 1
            e = event.with_sequence(version)
            digest = chain_hash(prev, e)
            rows.append((e.id, e.subject, version, e.type, e.source, e.time, e.dataschema,
                         e.actor, e.causationid, e.correlationid,
                         Jsonb(e.data, dumps=_orjson), prev, digest))
            prev = digest
        heads[case_id] = (version, prev)
        out.append(rows)
    return out


# The keys of the store's many-row INSERT (its rows are the events' canonical JSON).
_JSON_COLUMNS = ("id", "subject", "sequence", "type", "source", "time", "dataschema",
                 "actor", "causationid", "correlationid", "data", "prev_hash", "hash")


def _row_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row as the store's many-row INSERT sends it (one JSON array, hashes in hex)."""
    out = dict(zip(_JSON_COLUMNS, row, strict=True))
    out["data"], out["prev_hash"], out["hash"] = row[10].obj, row[11].hex(), row[12].hex()
    return out


def time_store(url: str, plans: list[list[tuple[str, list[CloudEvent]]]]) -> float:
    conns = [psycopg.connect(url, autocommit=True) for _ in plans]
    store = EventStore(url)

    def writer(i: int) -> None:
        versions: dict[str, int] = {}
        for case_id, events in plans[i]:
            version = versions.get(case_id, 0)
            store.append(case_id, events, expected_version=version, conn=conns[i])
            versions[case_id] = version + len(events)

    try:
        return run_together(len(plans), writer)
    finally:
        for c in conns:
            c.close()


def time_raw(url: str, batches: list[list[list[tuple[Any, ...]]]]) -> float:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(_RAW_TABLE)
    conns = [psycopg.connect(url, autocommit=True) for _ in batches]

    def writer(i: int) -> None:  # autocommit: each statement is its own transaction
        conn = conns[i]
        for rows in batches[i]:
            if len(rows) == 1:
                conn.execute(_RAW_ONE, rows[0])
            else:
                conn.execute(_RAW_MANY, (Jsonb([_row_json(r) for r in rows], dumps=_orjson),))

    try:
        return run_together(len(batches), writer)
    finally:
        for c in conns:
            c.close()


def append_figures(url: str, name: str, prefix: str, appends: int, size: int,
                   goal_min: float) -> dict[str, Any]:
    plans = [plan(prefix, w, appends, size) for w in range(WRITERS)]
    rows = [raw_rows(p) for p in plans]
    events = WRITERS * appends * size
    raw_rate = events / time_raw(url, rows)
    store_rate = events / time_store(url, plans)
    return figure(name, store_rate, "events/s", raw_rate, goal_min=goal_min, goal_ratio=0.5)


# -- writers as processes ---------------------------------------------------------------------
def _store_process(url: str, prefix: str, w: int, appends: int, size: int, start: Any,
                   out: Any) -> None:
    plans = plan(prefix, w, appends, size)
    store = EventStore(url)
    with psycopg.connect(url, autocommit=True) as conn:
        start.wait()
        versions: dict[str, int] = {}
        for case_id, events in plans:
            version = versions.get(case_id, 0)
            store.append(case_id, events, expected_version=version, conn=conn)
            versions[case_id] = version + len(events)
    out.put(time.time())


def _raw_process(url: str, prefix: str, w: int, appends: int, size: int, start: Any,
                 out: Any) -> None:
    batches = raw_rows(plan(prefix, w, appends, size))
    with psycopg.connect(url, autocommit=True) as conn:
        start.wait()
        for rows in batches:
            if len(rows) == 1:
                conn.execute(_RAW_ONE, rows[0])
            else:
                conn.execute(_RAW_MANY, (Jsonb([_row_json(r) for r in rows], dumps=_orjson),))
    out.put(time.time())


def in_processes(fn: Any, url: str, prefix: str, appends: int, size: int) -> float:
    """Seconds from a common start to the last of WRITERS processes running ``fn``: each
    process builds its rows and connects, then all wait at one barrier (with the clock's
    owner) and are released together."""
    ctx = get_context("spawn")
    start, out = ctx.Barrier(WRITERS + 1), ctx.Queue()
    procs = [ctx.Process(target=fn, args=(url, prefix, w, appends, size, start, out))
             for w in range(WRITERS)]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=300)
        began = time.time()
        ends = [out.get(timeout=600) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError(f"a writer process failed: {[p.exitcode for p in procs]}")
    return max(ends) - began


def process_figures(url: str, name: str, prefix: str, appends: int, size: int,
                    goal_min: float) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(_RAW_TABLE)
    events = WRITERS * appends * size
    raw_rate = events / in_processes(_raw_process, url, prefix, appends, size)
    store_rate = events / in_processes(_store_process, url, prefix, appends, size)
    return figure(name, store_rate, "events/s", raw_rate, goal_min=goal_min, goal_ratio=0.5)


def verify_figure(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        while sequence_pass(conn, limit=20_000):
            pass
        # As autovacuum would have long since: hint bits set, planner statistics in place.
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE commit_log")
    report = verify_store(url)
    if not report.ok:
        raise RuntimeError("the benchmark store does not verify:\n" + report.summary())
    best = max(report.events_checked / report.seconds,
               *(report.events_checked / verify_store(url).seconds for _ in range(2)))
    blobs = _canonical_blobs(url)
    return figure("verify (per-stream + global chain), best of 3", best, "events/s",
                  _bare_sha256_rate(blobs), goal_min=50_000)


def _bare_sha256_rate(blobs: list[bytes]) -> float:
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        prev = GENESIS
        for blob in blobs:
            prev = hashlib.sha256(prev + blob).digest()
        best = max(best, len(blobs) / (time.perf_counter() - started))
    return best


def _canonical_blobs(url: str) -> list[bytes]:
    store = EventStore(url)
    with psycopg.connect(url) as conn:
        streams = [r[0] for r in conn.execute("SELECT DISTINCT stream_id FROM events")]
        return [canonical_bytes(r.event) for s in streams
                for r in store.read_stream(s, conn=conn)]


def run(pg_url: str, quick: bool = False) -> list[dict[str, Any]]:
    """``pg_url``: a migrated, empty database of its own."""
    singles, batches = (25, 2) if quick else (1_500, 100)
    return [
        append_figures(pg_url, f"append, 1 event per commit, {WRITERS} writers", "S",
                       singles, 1, goal_min=3_000),
        append_figures(pg_url, f"append, {BATCH} events per commit, {WRITERS} writers", "B",
                       batches, BATCH, goal_min=20_000),
        process_figures(pg_url, f"append, 1 event per commit, {WRITERS} writer processes",
                        "SP", singles, 1, goal_min=3_000),
        process_figures(pg_url, f"append, {BATCH} events per commit, {WRITERS} writer processes",
                        "BP", batches, BATCH, goal_min=20_000),
        verify_figure(pg_url),
    ]
