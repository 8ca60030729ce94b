"""Reading events by kind through the store: the reader names no version, old events come
upcast (a stored rated.v1 reads as rated.v2), other kinds and streams are left out."""

from __future__ import annotations

import psycopg

from events import new_event
from events.case_outcome import CaseRated, CaseRatedV1
from services.common.eventstore import EventStore, read_kinds, stream_heads
from tests.integration.test_eventstore import received


def test_read_kinds_upcasts_old_versions_and_keeps_only_the_kinds_asked(database_url):
    store = EventStore(database_url)
    old = new_event(CaseRatedV1(score=2), subject="C-1", actor="inquirer:C-1")
    new = new_event(CaseRated(level="非常满意", anonymous=True), subject="C-1",
                    actor="inquirer:C-1")
    store.append("C-1", [received("C-1"), old, new], expected_version=0)
    store.append("C-2", [received("C-2")], expected_version=0)
    with psycopg.connect(database_url) as conn:
        rated = read_kinds(conn, ["C-1", "C-2", "C-3"], {"shouwen.case.rated"})
        everything = read_kinds(conn, ["C-2"], {"shouwen.case.received"})
    assert list(rated) == ["C-1"]
    assert [e.type for e in rated["C-1"]] == [CaseRated.event_type] * 2
    assert [e.data["level"] for e in rated["C-1"]] == ["不满意", "非常满意"]
    assert [e.version for e in rated["C-1"]] == [2, 3]
    assert [(e.stream_id, e.version) for e in everything["C-2"]] == [("C-2", 1)]


def test_stream_heads_are_each_streams_last_version_and_event(database_url):
    store = EventStore(database_url)
    last = received("C-1")
    store.append("C-1", [received("C-1"), last], expected_version=0)
    with psycopg.connect(database_url) as conn:
        assert stream_heads(conn, ["C-1", "C-9"]) == {"C-1": (2, last.id)}
