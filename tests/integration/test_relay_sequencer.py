"""The sequencer on a real PostgreSQL: commit order by txid, nothing below the line skipped."""

from __future__ import annotations

import psycopg

from events import new_event
from events.case import CaseReceived, Channel
from services.common.eventstore import EventStore
from services.relay.sequencer import sequence_pass


def received(case_id: str):
    payload = CaseReceived(
        channel=Channel.letter, receipt_number="R-1", unit_id="U1", matter="咨询政策",
        inquirer_name="钱七", first_responder_id="S1", first_responder_name="李四",
        first_responder_duty="来信登记", first_responder_contact="0935-1234567",
    )
    return new_event(payload, subject=case_id, actor="staff:S1")


def current_txid(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
    assert row is not None
    return int(row[0])


def burn_xids(conn: psycopg.Connection, count: int) -> None:
    """Use up ``count`` transaction ids fast: one subtransaction with a write each."""
    if count <= 0:
        return
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS burn (x int)")
    conn.execute(
        f"DO $$ BEGIN FOR i IN 1..{int(count)} LOOP BEGIN INSERT INTO burn VALUES (i);"
        " EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$"
    )


def commit_log(conn: psycopg.Connection) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT stream_id, version FROM commit_log ORDER BY seq")]


def test_txids_crossing_a_power_of_ten_are_taken_in_numeric_order(database_url):
    store = EventStore(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        txid = current_txid(conn)
        boundary = 10 ** len(str(txid + 10))
        burn_xids(conn, boundary - 20 - txid)
        while txid < boundary - 4:
            txid = current_txid(conn)
        streams = [f"C-{i}" for i in range(8)]  # four below the boundary, four at/after it
        for stream in streams:
            store.append(stream, [received(stream)], expected_version=0, conn=conn)
        while sequence_pass(conn, limit=3):  # truncated passes: the line moves by txid
            pass
        assert commit_log(conn) == [(s, 1) for s in streams]


def test_a_later_version_written_under_an_earlier_txid_follows_its_predecessor(database_url):
    store = EventStore(database_url)
    with psycopg.connect(database_url, autocommit=True) as early, \
            psycopg.connect(database_url, autocommit=True) as other:
        with early.transaction():
            early_txid = current_txid(early)
            store.append("C-1", [received("C-1")], expected_version=0, conn=other)
            assert sequence_pass(other) == 0  # the early txid is still running: line below it
            store.append("C-1", [received("C-1")], expected_version=1, conn=early)
            store.append("C-2", [received("C-2")], expected_version=0, conn=early)
        assert sequence_pass(other) == 3
        assert commit_log(other) == [("C-2", 1), ("C-1", 1), ("C-1", 2)]
        txids: dict[int, int] = dict(other.execute(
            "SELECT version, txid::text::bigint FROM events WHERE stream_id = 'C-1'").fetchall())
        assert txids[2] == early_txid < txids[1]
