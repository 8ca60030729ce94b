"""The hot paths that skip pydantic's generic work build exactly what the validating
constructor builds, and refuse exactly what it refuses."""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from events import CloudEvent, new_event
from events.case import CaseClassified, CaseReceived, ClassificationMethod, Jurisdiction
from services.common.eventstore import EventValidationError
from services.common.eventstore import validate as validate_event
from services.domain.case import CaseState, Status, _evolve
from services.routing.router import decision_id, decision_ids

PAYLOAD = CaseClassified(
    matter_type_code="M-1", matter_type_name="补办社保卡", jurisdiction=Jurisdiction.own_unit,
    handling_unit_id="U-1", handling_section_id="S-1", method=ClassificationMethod.catalogue,
    confidence=1.0,
)
BEIJING = timezone(timedelta(hours=8))


def validated(event: CloudEvent) -> CloudEvent:
    """The same event through the validating constructor."""
    return CloudEvent(**{name: getattr(event, name) for name in event.model_fields_set})


def test_new_event_equals_the_validated_event_field_for_field():
    event = new_event(PAYLOAD, subject="C-20261127-1", actor="service:routing",
                      causationid=uuid.uuid4(), time=datetime(2026, 11, 27, 9, tzinfo=BEIJING))
    twin = validated(event)
    assert event == twin
    assert list(event.__dict__) == list(twin.__dict__)
    assert event.model_fields_set == twin.model_fields_set
    assert event.time.tzinfo is not None and event.time.utcoffset() == timedelta(0)
    assert event.model_dump_json() == twin.model_dump_json()


@pytest.mark.parametrize("bad", [
    {"subject": "C-1\n"}, {"subject": ""}, {"subject": "有空格 的"},
    {"actor": "bob"}, {"actor": "staff:"}, {"source": ""},
    {"time": datetime(2026, 11, 27, 9)},  # no timezone
    {"causationid": "not-a-uuid"},
])
def test_new_event_refuses_what_the_constructor_refuses(bad):
    fields = {"subject": "C-1", "actor": "service:routing", **bad}
    with pytest.raises(ValidationError):
        new_event(PAYLOAD, **fields)


def test_with_sequence_is_model_copy_with_the_sequence():
    event = new_event(PAYLOAD, subject="C-1", actor="service:routing")
    stamped = event.with_sequence(7)
    assert stamped == event.model_copy(update={"sequence": 7})
    assert stamped.model_fields_set == event.model_fields_set | {"sequence"}
    assert event.sequence is None and stamped.sequence == 7


def test_with_sequence_and_data_is_model_copy_with_both_and_carries_no_note():
    event = new_event(PAYLOAD, subject="C-1", actor="service:routing")
    data = {**event.data, "matter_type_name": "enc:v1:inq-1:AAAA"}
    stamped = event.with_sequence_and_data(7, data)
    assert stamped == event.model_copy(update={"sequence": 7, "data": data})
    assert stamped.model_fields_set == event.model_fields_set | {"sequence"}
    assert stamped.data is data and event.data is not data and event.sequence is None
    assert not stamped.payload_checked(CaseClassified)  # other data: validated again
    same = event.with_sequence_and_data(7, event.data)  # its own data: with_sequence
    assert same == event.with_sequence(7) and same.payload_checked(CaseClassified)


def test_evolve_is_dataclasses_replace():
    state = CaseState(case_id="C-1", version=2, units=("U-1",))
    changes = {"status": Status.in_handling, "handler_id": "S-9", "version": 3}
    assert _evolve(state, changes) == replace(state, **changes)
    assert state.status is Status.received  # the original is untouched


def test_decision_ids_are_the_one_by_one_ids():
    received = uuid.uuid4()
    assert decision_ids(received, 12) == [decision_id(received, i) for i in range(12)]


def test_new_event_notes_that_its_data_came_from_a_validated_payload():
    event = new_event(PAYLOAD, subject="C-20261127-1", actor="service:routing")
    assert event.payload_checked(CaseClassified)
    assert event.with_sequence(3).payload_checked(CaseClassified)  # the same data, stamped
    assert not event.payload_checked(CaseReceived)  # dumped from another model: no
    assert not validated(event).payload_checked(CaseClassified)  # built by hand: no note
    assert copy.deepcopy(event) == event


def test_data_replaced_after_new_event_is_validated_again_by_the_store():
    """The note is about the very data dumped: a copy with other data does not carry it,
    and the store refuses what it would refuse from any event."""
    event = new_event(PAYLOAD, subject="C-20261127-1", actor="service:routing")
    bad = event.model_copy(update={"data": {**event.data, "confidence": 7}})
    assert not bad.payload_checked(CaseClassified)
    with pytest.raises(EventValidationError, match="data.confidence"):
        validate_event(bad)
    validate_event(event)  # noted: passes without a second validation


def test_the_note_does_not_change_what_is_equal():
    event = new_event(PAYLOAD, subject="C-20261127-1", actor="service:routing")
    twin = validated(event)
    assert event == twin and twin == event
    assert event != event.with_sequence(1)
    assert event.model_dump() == twin.model_dump()
    with pytest.raises(TypeError):
        hash(event)  # its data is a dict: not hashable, as before the note
