"""Every case event type crosses the Kafka binding intact, and any CloudEvents SDK reads it."""

from __future__ import annotations

import uuid

import pytest
from cloudevents.v1.kafka import KafkaMessage, from_binary

from events import CloudEvent, decode_payload, model_for, new_event
from events.envelope import schema_uri
from events.kafka import from_kafka, to_kafka
from tests.unit.test_events_samples import SAMPLES


def _event(event_type: str, sequence: int = 7) -> CloudEvent:
    payload = model_for(event_type).model_validate(SAMPLES[event_type])
    event = new_event(
        payload,
        subject="case-2026-000123",
        actor="staff:S1001",
        causationid=uuid.uuid4(),
        correlationid=uuid.uuid4(),
    )
    return event.with_sequence(sequence)


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_event_round_trips_through_kafka_binding(event_type: str) -> None:
    event = _event(event_type)

    key, value, headers = to_kafka(event)
    back = from_kafka(value, headers)

    assert key == b"case-2026-000123"
    assert back == event
    assert back.dataschema == schema_uri(event_type)
    assert model_for(event_type).model_validate(back.data).model_dump(mode="json") == event.data


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_decoded_payload_equals_what_was_written(event_type: str) -> None:
    event = _event(event_type)
    key, value, headers = to_kafka(event)

    payload = decode_payload(from_kafka(value, headers))

    if event_type == "shouwen.case.rated.v1":
        assert type(payload).event_type == "shouwen.case.rated.v2"
    else:
        assert payload == model_for(event_type).model_validate(SAMPLES[event_type])


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_cloudevents_sdk_reads_our_binary_messages(event_type: str) -> None:
    event = _event(event_type, sequence=42)
    key, value, headers = to_kafka(event)

    sdk_event = from_binary(KafkaMessage(headers=dict(headers), key=key, value=value))

    assert sdk_event["specversion"] == "1.0"
    assert sdk_event["id"] == str(event.id)
    assert sdk_event["type"] == event_type
    assert sdk_event["subject"] == "case-2026-000123"
    assert sdk_event["actor"] == "staff:S1001"
    assert sdk_event["sequence"] == "42"
    assert sdk_event["causationid"] == str(event.causationid)
    assert sdk_event["dataschema"] == schema_uri(event_type)
    assert sdk_event["datacontenttype"] == "application/json"
    assert sdk_event["partitionkey"] == key
    assert sdk_event.get_data() == event.data


def test_chinese_text_travels_as_utf8_not_escapes() -> None:
    key, value, headers = to_kafka(_event("shouwen.case.replied.v1"))

    assert "养老保险".encode() in value


@pytest.mark.parametrize(("header", "raw", "says"), [
    ("ce_time", b"2026-11-31T10:00:00Z", "time"),          # no 31st of November
    ("ce_time", b"2026-11-27T10:00:00", "time"),           # no timezone
    ("ce_time", "٢٠٢٦-11-27T10:00:00Z".encode(), "time"),   # digits, but not ASCII ones
    ("ce_id", b"not-a-uuid", "id"),
    ("ce_sequence", b"0", "sequence"),
    ("ce_actor", b"somebody", "actor"),
    ("ce_subject", b"a case with spaces", "subject"),
    ("ce_color", b"blue", "color"),                         # an attribute we do not know
])
def test_a_message_with_a_bad_attribute_is_refused_naming_it(
        header: str, raw: bytes, says: str) -> None:
    from events.kafka import UndecodableMessage

    _, value, headers = to_kafka(_event("shouwen.case.received.v1"))
    headers = [(n, v) for n, v in headers if n != header] + [(header, raw)]
    with pytest.raises(UndecodableMessage, match=says):
        from_kafka(value, headers)


def test_absent_optional_attributes_send_no_header_and_come_back_absent() -> None:
    full = _event("shouwen.case.replied.v1")
    bare = CloudEvent(
        id=full.id, source=full.source, type=full.type, subject=full.subject, time=full.time,
        actor=full.actor, data=full.data,
    )

    key, value, headers = to_kafka(bare)

    names = [name for name, _ in headers]
    assert names == ["content-type", "ce_specversion", "ce_id", "ce_source", "ce_type",
                     "ce_subject", "ce_time", "ce_actor"]
    assert from_kafka(value, headers) == bare
    full_names = [name for name, _ in to_kafka(full)[2]]
    assert {"ce_dataschema", "ce_causationid", "ce_correlationid", "ce_sequence"} <= set(
        full_names)
