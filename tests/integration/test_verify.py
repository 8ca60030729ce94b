"""`shouwen verify` against a real PostgreSQL, tampered with by a superuser past the guard.

Each test builds four interleaved case streams of five events, puts them in commit order
with the sequencer, changes the store behind the append-only triggers
(``session_replication_role = replica``), and runs the real command in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from events import new_event
from events.case import CaseReceived
from services.common.eventstore import EventStore, chain_hash, row_to_recorded
from services.common.integrity import verify_store
from services.relay.sequencer import sequence_pass

SHOUWEN = str(Path(sys.executable).parent / "shouwen")
STREAMS = ("C-1", "C-2", "C-3", "C-4")


@dataclass(frozen=True)
class Stored:
    event_id: str
    stream_id: str
    version: int
    position: int
    seq: int


def received(case_id: str, n: int):
    payload = CaseReceived(
        channel="window", receipt_number=f"R-{case_id}-{n}", unit_id="U1",
        matter=f'补办社保卡 "{n}"\n\t\u2028 😀 \\ end', inquirer_name="张三",
        inquirer_phone="13800000000", first_responder_id="S1", first_responder_name="李四",
        first_responder_duty="窗口受理", first_responder_contact="0935-1234567",
    )
    return new_event(payload, subject=case_id, actor="staff:S1")


@pytest.fixture
def store(database_url) -> dict[tuple[str, int], Stored]:
    """20 events: streams appended round-robin (singles, then a batch of two, then one)."""
    es = EventStore(database_url)
    for round_sizes in ((1,), (2,), (1,), (1,)):
        for case_id in STREAMS:
            for size in round_sizes:
                version = es.stream_version(case_id)
                es.append(case_id, [received(case_id, version + i + 1) for i in range(size)],
                          expected_version=version)
    with psycopg.connect(database_url, autocommit=True) as conn:
        while sequence_pass(conn):
            pass
        rows = conn.execute(
            "SELECT e.event_id::text, e.stream_id, e.version, e.position, l.seq"
            " FROM events e JOIN commit_log l USING (position)"
        ).fetchall()
    assert len(rows) == 20
    return {(r[1], r[2]): Stored(*r) for r in rows}


def tamper(url: str, *statements: tuple[str, tuple]) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        for sql, params in statements:
            assert conn.execute(sql, params).rowcount >= 1, sql


def verify(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run([SHOUWEN, "verify", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def first_bad(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("first bad event: ")]
    assert lines, result.stdout
    return lines[0]


def names(line: str, kind: str, e: Stored) -> bool:
    return line.startswith(f"first bad event: {kind}: event {e.event_id} ") and (
        f"stream '{e.stream_id}', version {e.version}, position {e.position},"
        f" commit seq {e.seq})" in line
    )


def test_a_clean_store_verifies_and_says_what_it_checked(database_url, store):
    result = verify(database_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: hash chains intact" in result.stdout
    assert "20 events in 4 stream(s), 20 commit(s) of the global chain" in result.stdout


def test_the_quick_encoding_matches_the_canonical_bytes_of_every_stored_event(
    database_url, store
):
    """If canonical_dict gains a field, the quick path must follow, or verify crawls."""
    report = verify_store(database_url)
    assert report.ok and report.events_checked == 20
    assert report.reference_checks == 0


def test_events_not_yet_in_commit_order_are_counted_not_blamed(database_url, store):
    es = EventStore(database_url)
    es.append("C-1", [received("C-1", 6), received("C-1", 7)], expected_version=5)
    result = verify(database_url)
    assert result.returncode == 0, result.stdout
    assert "22 events in 4 stream(s), 20 commit(s) of the global chain" in result.stdout
    assert "(2 event(s) not yet in commit order)" in result.stdout


def test_one_changed_character_of_a_payload_is_named_as_altered(database_url, store):
    target = store[("C-2", 3)]
    tamper(database_url, (
        "UPDATE events SET data = jsonb_set(data, '{receipt_number}', %s::jsonb)"
        " WHERE event_id = %s::uuid", ('"R-C-2-4"', target.event_id)))
    line = first_bad(verify(database_url))
    assert names(line, "altered", target), line
    assert "its hash does not match its content" in line


def test_an_event_deleted_from_the_middle_of_a_stream_is_named_as_removed(database_url, store):
    target = store[("C-3", 3)]
    tamper(database_url, ("DELETE FROM events WHERE event_id = %s::uuid", (target.event_id,)))
    result = verify(database_url)
    line = first_bad(result)
    assert names(line, "removed", target), line
    assert "version 3 of the stream is missing" in line
    assert "FAILED: 1 bad event(s)" in result.stdout


def test_the_last_event_of_a_stream_deleted_is_caught_by_the_global_chain(database_url, store):
    target = store[("C-1", 5)]
    tamper(database_url, ("DELETE FROM events WHERE event_id = %s::uuid", (target.event_id,)))
    line = first_bad(verify(database_url))
    assert names(line, "removed", target), line
    assert f"position {target.position} holds no event" in line


def test_two_events_swapped_in_a_stream_are_named_as_reordered(database_url, store):
    earlier, later = store[("C-4", 2)], store[("C-4", 3)]
    swap = "UPDATE events SET version = %s WHERE event_id = %s::uuid"
    tamper(database_url, (swap, (99, earlier.event_id)), (swap, (2, later.event_id)),
           (swap, (3, earlier.event_id)))
    line = first_bad(verify(database_url))
    assert line.startswith(f"first bad event: reordered: event {earlier.event_id} "), line
    assert f"commit seq {earlier.seq})" in line


def test_two_payloads_swapped_are_named_as_altered(database_url, store):
    earlier, later = store[("C-1", 2)], store[("C-1", 3)]
    tamper(database_url, (
        "UPDATE events e SET data = o.data FROM events o WHERE (e.event_id, o.event_id) IN"
        " ((%s::uuid, %s::uuid), (%s::uuid, %s::uuid))",
        (earlier.event_id, later.event_id, later.event_id, earlier.event_id)))
    result = verify(database_url)
    assert names(first_bad(result), "altered", earlier)
    assert "FAILED: 2 bad event(s)" in result.stdout


def test_an_altered_commit_log_row_is_detected(database_url, store):
    target = store[("C-2", 2)]
    tamper(database_url, (
        "UPDATE commit_log SET event_hash = set_byte(event_hash, 0, get_byte(event_hash, 0) # 1)"
        " WHERE seq = %s", (target.seq,)))
    line = first_bad(verify(database_url))
    assert names(line, "altered", target), line
    assert f"commit_log seq {target.seq} altered" in line


def test_a_commit_log_row_deleted_is_named_by_its_event(database_url, store):
    target = store[("C-3", 4)]
    tamper(database_url, ("DELETE FROM commit_log WHERE seq = %s", (target.seq,)))
    line = first_bad(verify(database_url))
    assert names(line, "removed", target), line
    assert "it is not in commit_log, yet the sequencer's line" in line


def test_an_event_rewritten_with_a_fresh_hash_is_caught_by_commit_order(database_url, store):
    """The forger recomputes the stream's last hash; the global chain still holds the old one."""
    target = store[("C-4", 5)]
    with psycopg.connect(database_url) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        row = cur.execute(
            "SELECT *, NULL AS seq FROM events WHERE event_id = %s::uuid", (target.event_id,)
        ).fetchone()
        forged = row_to_recorded({**row, "actor": "staff:S9"})
        digest = chain_hash(forged.prev_hash, forged.event)
        conn.execute("UPDATE events SET actor = 'staff:S9', hash = %s WHERE event_id = %s::uuid",
                     (digest, target.event_id))
    line = first_bad(verify(database_url))
    assert names(line, "altered", target), line
    assert f"differs from the one sealed at commit seq {target.seq}" in line


def test_one_stream_can_be_checked_alone(database_url, store):
    tamper(database_url, ("DELETE FROM events WHERE event_id = %s::uuid",
                          (store[("C-2", 3)].event_id,)))
    clean = verify(database_url, "--stream", "C-1")
    assert clean.returncode == 0, clean.stdout
    assert "stream 'C-1': 5 events in 1 stream(s), 5 commit(s)" in clean.stdout
    assert names(first_bad(verify(database_url, "--stream", "C-2")), "removed", store[("C-2", 3)])


def test_a_malformed_stream_id_is_refused_with_status_2(database_url):
    result = verify(database_url, "--stream", "no spaces; please")
    assert result.returncode == 2
    assert "is not a case id" in result.stderr


def test_data_the_quick_encoder_writes_differently_is_judged_by_rfc_8785(database_url, store):
    """orjson writes 0.000001 as 1e-6 and orders keys beyond the BMP unlike RFC 8785."""
    head = store[("C-1", 5)]
    with psycopg.connect(database_url) as conn:
        prev = conn.execute("SELECT hash FROM events WHERE position = %s",
                            (head.position,)).fetchone()[0]
        event = received("C-1", 6).model_copy(update={
            "sequence": 6, "data": {"share": 0.000001, "ratio": 2.5e-5, "\ue000": 1, "😀": 2}})
        conn.execute(
            "INSERT INTO events (event_id, stream_id, version, type, source, time, dataschema,"
            " actor, data, prev_hash, hash) VALUES (%s, %s, 6, %s, %s, %s, %s, %s, %s, %s, %s)",
            (event.id, "C-1", event.type, event.source, event.time, event.dataschema,
             event.actor, psycopg.types.json.Jsonb(event.data), prev,
             chain_hash(bytes(prev), event)))
        conn.commit()
        sequence_pass(conn)
    result = verify(database_url)
    assert result.returncode == 0, result.stdout
    assert "21 events in 4 stream(s), 21 commit(s)" in result.stdout
    assert verify_store(database_url).reference_checks == 1
