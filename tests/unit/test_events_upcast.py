"""shouwen.case.rated.v1 (score 1..5) is read as v2 (one of five levels), never rewritten."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from events import CloudEvent, decode_payload, model_for, new_event, upcast
from events.case_outcome import CaseRated, CaseRatedV1, SatisfactionLevel
from events.envelope import schema_uri
from events.kafka import from_kafka, to_kafka
from services.common.eventstore import validate


def _stored_v1(score: int, comment: str | None = "办事效率高") -> CloudEvent:
    event = new_event(
        CaseRatedV1(score=score, comment=comment), subject="case-9", actor="inquirer:WW-1"
    )
    return event.with_sequence(12)


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (5, SatisfactionLevel.very_satisfied),
        (4, SatisfactionLevel.satisfied),
        (3, SatisfactionLevel.basically_satisfied),
        (2, SatisfactionLevel.dissatisfied),
        (1, SatisfactionLevel.very_dissatisfied),
    ],
)
def test_decoding_a_v1_rating_yields_the_v2_model(score: int, level: SatisfactionLevel) -> None:
    payload = decode_payload(_stored_v1(score))

    assert payload == CaseRated(level=level, comment="办事效率高", anonymous=False)


def test_levels_are_the_five_chinese_grades_with_english_names() -> None:
    assert {m.name: m.value for m in SatisfactionLevel} == {
        "very_satisfied": "非常满意",
        "satisfied": "满意",
        "basically_satisfied": "基本满意",
        "dissatisfied": "不满意",
        "very_dissatisfied": "非常不满意",
    }


def test_upcast_lifts_type_schema_and_data_and_keeps_the_rest() -> None:
    old = _stored_v1(2, comment=None)

    lifted = upcast(old)

    assert lifted.type == "shouwen.case.rated.v2"
    assert lifted.dataschema == schema_uri("shouwen.case.rated.v2")
    assert lifted.data == {"level": "不满意", "comment": None, "anonymous": False}
    assert (lifted.id, lifted.subject, lifted.actor, lifted.sequence, lifted.time) == (
        old.id, old.subject, old.actor, old.sequence, old.time
    )
    assert old.type == "shouwen.case.rated.v1" and old.data == {"score": 2, "comment": None}


def test_a_v1_event_read_back_from_kafka_decodes_as_v2() -> None:
    key, value, headers = to_kafka(_stored_v1(5))

    event = from_kafka(value, headers)

    payload = decode_payload(event)

    assert event.type == "shouwen.case.rated.v1"
    assert isinstance(payload, CaseRated)
    assert payload.level is SatisfactionLevel.very_satisfied


def test_stored_v1_events_still_validate() -> None:
    old = _stored_v1(3)

    validate(old)
    assert model_for("shouwen.case.rated.v1") is CaseRatedV1


def test_new_writers_use_v2_and_it_is_not_upcast() -> None:
    event = new_event(
        CaseRated(level=SatisfactionLevel.satisfied, anonymous=True),
        subject="case-9", actor="inquirer:WW-1",
    )

    assert event.type == "shouwen.case.rated.v2"
    assert event.data["level"] == "满意"
    assert upcast(event) is event
    assert decode_payload(event) == CaseRated(level=SatisfactionLevel.satisfied, anonymous=True)


def test_a_corrupt_v1_rating_is_refused_naming_the_field() -> None:
    corrupt = _stored_v1(3).model_copy(update={"data": {"score": 9}})

    with pytest.raises(ValidationError, match="score"):
        decode_payload(corrupt)
