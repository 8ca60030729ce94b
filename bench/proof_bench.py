"""Checkpoints and dispute bundles, each beside a raw baseline measured in the same run.

    store        N events (100k; quick 5k): cases at the centre's window, a received event
                 and nine replies each, appended in batches and put in commit order
    checkpoint   the first checkpoint over all N events (persisting the tree, signing)
                 vs reading the same N leaves and hashing each once (sha256(0x00 || hash))
                 in a bare loop; then one more checkpoint after 1,000 new events (the
                 persisted tree spares rehashing the N: its time should not grow with N)
    bundle       build + write one case's bundle (in process: events, authorisation, inclusion
                 proofs, the ledger's history and page, audit row, zip), p50/p99 over cases
                 vs SELECT * of the case's rows (goal: p99 < 1 s, issue 5)
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import figure
from events import CloudEvent, new_event
from events.case import CaseReceived
from events.case_outcome import CaseReplied
from services.common.eventstore import EventStore
from services.directory.loader import load_directory
from services.directory.store import put_in_force
from services.proof import bundle, checkpointer
from services.relay.sequencer import sequence_pass

DEMO = Path(__file__).resolve().parents[1] / "deploy" / "demo" / "directory.yaml"
ORIGIN = "shouwen.bench/log"
PER_CASE = 10


def _case(case_id: str) -> list[CloudEvent]:
    first = new_event(CaseReceived(
        channel="window", receipt_number=f"R-{case_id}", unit_id="ZWFWZX",
        matter="补办社会保障卡，原卡遗失", inquirer_name="张三", inquirer_phone="13800000000",
        first_responder_id="ZX005", first_responder_name="李娜",
        first_responder_duty="综合受理窗口工作人员", first_responder_contact="0935-8100105",
    ), subject=case_id, actor="staff:ZX005")
    return [first] + [new_event(CaseReplied(answer=f"答复 {i}", channel="window"),
                                subject=case_id, actor="staff:ZX005") for i in range(1, PER_CASE)]


def fill(url: str, cases: int, prefix: str = "B") -> None:
    es = EventStore(url)
    for start in range(0, cases, 100):
        with psycopg.connect(url) as conn:
            es.append_many([(f"{prefix}-{i}", _case(f"{prefix}-{i}"), 0)
                            for i in range(start, min(cases, start + 100))], conn=conn)
    with psycopg.connect(url, autocommit=True) as conn:
        while sequence_pass(conn, limit=20_000):
            pass


def checkpoint_figures(url: str, key: Ed25519PrivateKey) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        rows = conn.execute("SELECT event_hash FROM commit_log ORDER BY seq", binary=True)
        sha256 = hashlib.sha256
        count = sum(1 for (h,) in rows if sha256(b"\x00" + bytes(h)).digest())
        bare = time.perf_counter() - started
        started = time.perf_counter()
        taken = checkpointer.take(conn, key, ORIGIN)
        first = time.perf_counter() - started
    assert taken is not None and taken.checkpoint.tree_size == count
    fill(url, 100, prefix="M")
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        again = checkpointer.take(conn, key, ORIGIN)
        more = time.perf_counter() - started
    assert again is not None and again.prev_size == count
    return [
        figure(f"checkpoint over {count:,} events (tree persisted, signed)", count / first,
               "events/s", baseline=count / bare),
        {**figure(f"next checkpoint, +1,000 events onto {count:,}", more * 1000, "ms"),
         "goal": "< 1,000 ms", "passed": more < 1.0},
    ]


def bundle_figures(url: str, key: Ed25519PrivateKey, cases: int, samples: int) -> dict[str, Any]:
    step = max(1, cases // samples)
    picks = [f"B-{i}" for i in range(0, cases, step)][:samples]
    made, raw = [], []
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(url, autocommit=True) as conn:
        for case_id in picks:
            started = time.perf_counter()
            conn.execute("SELECT * FROM events WHERE stream_id = %s ORDER BY version",
                         (case_id,)).fetchall()
            raw.append(time.perf_counter() - started)
            started = time.perf_counter()
            done = bundle.build(conn, case_id, "ZX005", key.public_key(), key, ORIGIN, 0)
            bundle.write_zip(done, key.public_key(), Path(tmp) / f"{case_id}.zip")
            made.append(time.perf_counter() - started)
            assert len(done.doc["events"]) == PER_CASE
    p50, p99 = (statistics.quantiles(made, n=100)[i] * 1000 for i in (49, 98))
    raw99 = statistics.quantiles(raw, n=100)[98] * 1000
    row = figure(f"dispute bundle for one case ({PER_CASE} events), p99 of {len(made)};"
                 f" p50 {p50:.0f} ms", p99, "ms", baseline=raw99)
    return {**row, "goal": "< 1,000 ms", "passed": p99 < 1000}


def run(pg_url: str, quick: bool = False) -> list[dict[str, Any]]:
    """``pg_url``: a migrated, empty database of its own."""
    cases = 500 if quick else 10_000
    put_in_force(pg_url, load_directory(DEMO), actor="system:bench", source=str(DEMO))
    fill(pg_url, cases)
    key = Ed25519PrivateKey.generate()
    rows = checkpoint_figures(pg_url, key)
    rows.append(bundle_figures(pg_url, key, cases, 10 if quick else 40))
    return rows


if __name__ == "__main__":
    import sys

    from bench.common import fresh_database, postgres, print_table

    with postgres() as admin, fresh_database(admin) as url:
        print_table(run(url, quick="--quick" in sys.argv))
