"""PostgreSQL recovered to a point before events the topic already has (a failover to a
lagging replica, a restore from backup): the relay detects it, says so (log and
shouwen_relay_store_behind_topic), and neither sequences nor publishes — it never gives new
events the places of the lost ones. Once the store has them again, it goes on by itself."""

from __future__ import annotations

import logging
import threading

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from services.relay.divergence import StoreBehindTopic, unknown_to_store
from services.relay.relay import run
from tests.integration.test_relay import published_seq, quiet, read_topic, store_events, wait_until


def lose_the_last_events(url: str, ids: list, count: int) -> list[tuple]:
    """What a recovery to an earlier point does to the store: the newest events (and their
    commit_log rows, and the cursor) are gone. Returns the rows to put back later."""
    with psycopg.connect(url, autocommit=True) as conn:
        # the store refuses deletes (append-only triggers); a recovery is below that
        conn.execute("SET session_replication_role = replica")
        lost = [str(i) for i in ids[-count:]]
        events = conn.execute("SELECT * FROM events WHERE event_id = ANY(%s::uuid[])",
                              (lost,)).fetchall()
        positions = [r[0] for r in conn.execute(
            "SELECT position FROM events WHERE event_id = ANY(%s::uuid[])", (lost,))]
        log_rows = conn.execute("SELECT * FROM commit_log WHERE position = ANY(%s)",
                                (positions,)).fetchall()
        conn.execute("DELETE FROM commit_log WHERE position = ANY(%s)", (positions,))
        conn.execute("DELETE FROM events WHERE event_id = ANY(%s::uuid[])", (lost,))
        conn.execute("UPDATE relay_state SET published_seq = published_seq - %s", (count,))
        return [("events", events), ("commit_log", log_rows)]


def put_back(url: str, saved: list[tuple]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        for table, rows in saved:
            for row in rows:
                marks = ", ".join(["%s"] * len(row))
                conn.execute(f"INSERT INTO {table} OVERRIDING SYSTEM VALUE VALUES ({marks})",
                             [psycopg.types.json.Jsonb(v) if isinstance(v, dict) else v
                              for v in row])
        conn.execute("UPDATE relay_state SET published_seq = (SELECT max(seq) FROM commit_log)")


def test_a_store_behind_the_topic_stops_the_relay_until_it_is_recovered(settings, bootstrap,
                                                                         caplog):
    url = str(settings.database_url)
    ids = store_events(url, streams=2, per_stream=3)
    run(quiet(settings), once=True)
    assert len(read_topic(bootstrap, settings.case_events_topic, 6)) == 6
    with psycopg.connect(url) as conn:
        assert unknown_to_store(conn, bootstrap, settings.case_events_topic) == []

    saved = lose_the_last_events(url, ids, 3)  # stream C-1's three events, one partition
    with psycopg.connect(url) as conn:
        unknown = unknown_to_store(conn, bootstrap, settings.case_events_topic)
    assert [u.event_id for u in unknown] == [str(ids[-1])]
    with pytest.raises(StoreBehindTopic, match="behind"):
        run(quiet(settings), once=True)

    # a running relay: new events come in meanwhile; nothing is sequenced or published
    new = store_events_after(url)
    before = published_seq(url)
    stop, registry = threading.Event(), CollectorRegistry()
    caplog.set_level(logging.ERROR, logger="services.relay")
    relay = threading.Thread(target=run, args=(quiet(settings),),
                             kwargs={"stop": stop, "registry": registry}, daemon=True)
    relay.start()
    try:
        wait_until(lambda: registry.get_sample_value("shouwen_relay_store_behind_topic") == 1,
                   what="the relay reports the store behind the topic")
        assert "the event store is behind" in caplog.text
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM commit_log l JOIN events e"
                                " ON e.position = l.position WHERE e.event_id = %s",
                                (new,)).fetchone() == (0,)  # not sequenced: no new numbers
        assert published_seq(url) == before
        assert len(read_topic(bootstrap, settings.case_events_topic, 6)) == 6
    finally:
        stop.set()
        relay.join(30)

    put_back(url, saved)  # the store recovered (the lost events restored)
    run(quiet(settings), once=True)
    on_topic = [e.id for _, _, e in read_topic(bootstrap, settings.case_events_topic, 7)]
    assert on_topic.count(new) == 1 and published_seq(url) == 7


def store_events_after(url: str):
    from services.common.eventstore import EventStore
    from tests.integration.test_relay import received

    event = received("C-new")
    EventStore(url).append("C-new", [event], expected_version=0)
    return event.id
