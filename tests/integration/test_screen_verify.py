"""screen.verify against a real store: a batch holding a stored event AND a forged copy of it
(same id, altered data) lets the real one through and refuses only the copy. Keyed by id, the
copy once took the real event down with it (seen in tests/faults/test_poison.py when routing
read its own referral in the same batch as the forgery)."""

from __future__ import annotations

import psycopg

from events import new_event
from events.case import CaseReceived, Channel
from services.common import screen
from services.common.eventstore import EventStore


def received(case_id: str):
    return new_event(CaseReceived(
        channel=Channel.phone, receipt_number="R-1", unit_id="U1", matter="补办社保卡",
        inquirer_name="张三", inquirer_phone="13800000000", first_responder_id="S1",
        first_responder_name="李四", first_responder_duty="窗口受理",
        first_responder_contact="0935-1234567"), subject=case_id, actor="staff:S1")


def test_a_forged_copy_beside_the_real_event_refuses_only_the_copy(database_url: str) -> None:
    stored = EventStore(database_url).append("C-1", [received("C-1")], expected_version=0)[0].event
    forged = stored.model_copy(update={"data": {**stored.data, "matter": "伪造"}})
    with psycopg.connect(database_url) as conn:
        verdicts = screen.verify(conn, [stored, forged, stored])
    assert verdicts[0] is None and verdicts[2] is None
    assert verdicts[1] is not None and verdicts[1].reason == "altered"


def test_an_event_not_in_the_store_is_refused_by_position(database_url: str) -> None:
    stored = EventStore(database_url).append("C-2", [received("C-2")], expected_version=0)[0].event
    stranger = received("C-3").with_sequence(1)
    with psycopg.connect(database_url) as conn:
        verdicts = screen.verify(conn, [stranger, stored])
    assert [v.reason if v else None for v in verdicts] == ["not-in-store", None]
