"""Bad payloads are refused by the models, and the refusal names the field."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from events import model_for, new_event
from events.export import payload_schema
from services.common.eventstore import EventValidationError, validate
from tests.unit.test_events_samples import SAMPLES, case_types


def _sample(event_type: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(SAMPLES[event_type])
    data.update(changes)
    return data


def _without(event_type: str, *path: str) -> dict[str, Any]:
    data = copy.deepcopy(SAMPLES[event_type])
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


BAD = [
    ("missing handler", "shouwen.case.accepted.v1",
     _without("shouwen.case.accepted.v1", "handler"), ("handler",), "missing"),
    ("missing due date", "shouwen.case.accepted.v1",
     _without("shouwen.case.accepted.v1", "time_limit", "due_date"),
     ("time_limit", "due_date"), "missing"),
    ("unknown channel", "shouwen.case.received.v1",
     _sample("shouwen.case.received.v1", channel="fax"), ("channel",), "enum"),
    ("rating level not one of the five", "shouwen.case.rated.v2",
     _sample("shouwen.case.rated.v2", level="great"), ("level",), "enum"),
    ("oversize answer", "shouwen.case.replied.v1",
     _sample("shouwen.case.replied.v1", answer="答" * 4001), ("answer",), "string_too_long"),
    ("oversize inquirer name", "shouwen.case.received.v1",
     _sample("shouwen.case.received.v1", inquirer_name="张" * 501),
     ("inquirer_name",), "string_too_long"),
    ("empty answer", "shouwen.case.replied.v1",
     _sample("shouwen.case.replied.v1", answer=""), ("answer",), "string_too_short"),
    ("empty missing-materials list", "shouwen.case.one_time_notice_given.v1",
     _sample("shouwen.case.one_time_notice_given.v1", missing_materials=[]),
     ("missing_materials",), "too_short"),
    ("external referral without address", "shouwen.case.referred.v1",
     _without("shouwen.case.referred.v1", "referral", "address"),
     ("referral", "external", "address"), "missing"),
    ("external referral without contact person", "shouwen.case.referred.v1",
     _without("shouwen.case.referred.v1", "referral", "contact_person"),
     ("referral", "external", "contact_person"), "missing"),
    ("referral of unknown kind", "shouwen.case.referred.v1",
     _sample("shouwen.case.referred.v1", referral={"kind": "elsewhere"}),
     ("referral",), "union_tag_invalid"),
    ("confidence above 1", "shouwen.case.classified.v1",
     _sample("shouwen.case.classified.v1", confidence=1.5), ("confidence",), "less_than_equal"),
    ("score 0 in an old rating", "shouwen.case.rated.v1",
     _sample("shouwen.case.rated.v1", score=0), ("score",), "greater_than_equal"),
    ("unknown field", "shouwen.case.closed.v1",
     _sample("shouwen.case.closed.v1", inquirer_phone="13800000000"),
     ("inquirer_phone",), "extra_forbidden"),
    ("pick-up record timestamp without zone", "shouwen.case.result_delivered.v1",
     _sample("shouwen.case.result_delivered.v1", pickup_record={
         **SAMPLES["shouwen.case.result_delivered.v1"]["pickup_record"],
         "picked_up_at": "2026-03-06T10:30:00"}),
     ("pickup_record", "picked_up_at"), "value_error"),
]


@pytest.mark.parametrize(("event_type", "data", "loc", "kind"),
                         [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_payload_is_refused_naming_the_field(
    event_type: str, data: dict[str, Any], loc: tuple[str, ...], kind: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model_for(event_type).model_validate(data)

    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [loc]
    assert kind in errors[0]["type"]


RULES = [
    ("the same material twice", "shouwen.case.one_time_notice_given.v1",
     {"missing_materials": [{"name": "身份证"}, {"name": "身份证"}]}, "missing_materials"),
    ("complete with materials outstanding", "shouwen.case.materials_supplied.v1",
     {"complete": True, "outstanding": ["户口本"]}, "outstanding"),
    ("picked up without a pick-up record", "shouwen.case.result_delivered.v1",
     {"pickup_record": None}, "pickup_record"),
    ("posted with a pick-up record", "shouwen.case.result_delivered.v1",
     {"method": "post"}, "pickup_record"),
    ("complaint against no one", "shouwen.case.complaint_filed.v1",
     {"against_staff_id": None, "against_unit_id": None}, "against_staff_id"),
    ("own-unit matter without a handling unit", "shouwen.case.classified.v1",
     {"handling_unit_id": None}, "handling_unit_id"),
    ("escalated for 'other' reason without details", "shouwen.case.escalated.v1",
     {"reason": "other", "details": None}, "details"),
]


@pytest.mark.parametrize(("event_type", "changes", "field"),
                         [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_domain_rule_is_enforced_naming_the_field(
    event_type: str, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        model_for(event_type).model_validate(_sample(event_type, **changes))


def test_event_store_names_the_nested_field_of_a_bad_external_referral() -> None:
    referred = "shouwen.case.referred.v1"
    payload = model_for(referred).model_validate(SAMPLES[referred])
    event = new_event(payload, subject="case-1", actor="staff:S1001")
    bad = event.model_copy(update={"data": _without(referred, "referral", "address")})

    with pytest.raises(EventValidationError, match=r"data\.referral\.external\.address"):
        validate(bad)


def _nodes(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every sub-schema of a schema, with its JSON pointer."""
    if isinstance(schema, dict):
        yield path, schema
        for key, sub in schema.items():
            yield from _nodes(sub, f"{path}/{key}")
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            yield from _nodes(sub, f"{path}/{i}")


def _unbounded(schema: dict[str, Any]) -> list[str]:
    """Pointers of free-text strings without maxLength and of arrays without maxItems."""
    found = []
    for path, node in _nodes(schema):
        free_text = node.get("type") == "string" and not {"enum", "const", "format"} & node.keys()
        if (free_text and "maxLength" not in node) or (
            node.get("type") == "array" and "maxItems" not in node
        ):
            found.append(path)
    return found


@pytest.mark.parametrize("event_type", case_types())
def test_every_text_and_list_has_a_length_limit(event_type: str) -> None:
    assert _unbounded(payload_schema(event_type, model_for(event_type))) == []
