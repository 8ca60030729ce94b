"""What a consumer refuses before any handler sees a message (services/common/screen.py):
each reason named. The store half (verify) is proven against PostgreSQL in
tests/integration/test_routing_batch.py and tests/faults/test_poison.py."""

from __future__ import annotations

import pytest

from events import new_event
from events.case import CaseReceived, Channel
from events.kafka import to_kafka
from services.common.deadletter import Delivery
from services.common.screen import Rejected, decode


def message(event_type: str | None = None, key: bytes | None = None) -> Delivery:
    event = new_event(CaseReceived(
        channel=Channel.phone, receipt_number="R-1", unit_id="U1", matter="补办社保卡",
        inquirer_name="张三", inquirer_phone="13800000000", first_responder_id="S1",
        first_responder_name="李四", first_responder_duty="窗口受理",
        first_responder_contact="0935-1234567"), subject="C-1", actor="staff:S1")
    if event_type is not None:
        event = event.model_construct(**{**event.__dict__, "type": event_type})
    k, value, headers = to_kafka(event)
    return Delivery("t", 0, 0, k if key is None else key, value, list(headers))


def reason(delivery: Delivery) -> str:
    with pytest.raises(Rejected) as caught:
        decode(delivery)
    return caught.value.reason


def test_a_known_event_under_its_own_key_passes() -> None:
    raw, event = decode(message())
    assert raw.type == event.type == "shouwen.case.received.v1"


def test_each_kind_of_poison_is_named() -> None:
    assert reason(message("shouwen.case.received.v9")) == "unknown-version"
    assert reason(message("shouwen.case.teleported.v1")) == "unknown-type"
    assert reason(message(key=b"C-2")) == "key-mismatch"
    assert reason(Delivery("t", 0, 0, b"C-1", b"not json", [])) == "undecodable"
