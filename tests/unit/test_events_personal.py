"""Personal data of inquirers is masked, using the schema marks, before logs and metrics."""

from __future__ import annotations

import copy
import json

import pytest

from events.personal import mask_event_data, mask_text
from tests.unit.test_events_samples import PERSONAL_VALUES, SAMPLES


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("13800000000", "138****0000"),
        ("+86 138-0000-0000", "138****0000"),
        ("0935-2223334", "093****3334"),
        ("2223334", "***3334"),
        ("张三", "张*"),
        ("张三丰", "张**"),
        ("张", "*"),
        ("zhangsan@example.cn", "z***@example.cn"),
        ("甘肃省武威市凉州区东大街1号", "甘******"),
        ("62010219800101123X", "6******"),
    ],
)
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_received_event_masks_the_inquirer_and_keeps_the_rest() -> None:
    data = SAMPLES["shouwen.case.received.v1"]

    masked = mask_event_data("shouwen.case.received.v1", data)

    assert masked["inquirer_name"] == "张*"
    assert masked["inquirer_phone"] == "138****0000"
    assert masked["inquirer_email"] == "z***@example.cn"
    assert masked["inquirer_id_number"] == "6******"
    assert masked["inquirer_address"] == "甘******"
    for field in ("channel", "matter", "first_responder_name", "first_responder_contact"):
        assert masked[field] == data[field]


def test_nested_pickup_record_is_masked() -> None:
    masked = mask_event_data("shouwen.case.result_delivered.v1",
                             SAMPLES["shouwen.case.result_delivered.v1"])

    assert masked["pickup_record"]["collector_name"] == "张**"
    assert masked["pickup_record"]["collector_id_number"] == "6******"
    assert masked["pickup_record"]["record_number"] == "QJ-2026-0042"
    assert masked["recipient_contact"] == "138****0000"


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_no_personal_value_survives_masking(event_type: str) -> None:
    data = copy.deepcopy(SAMPLES[event_type])

    text = json.dumps(mask_event_data(event_type, data), ensure_ascii=False)

    assert [v for v in PERSONAL_VALUES if v in text] == []
    assert data == SAMPLES[event_type], "the input must not be changed"


def test_keys_the_schema_does_not_know_are_masked() -> None:
    data = {**SAMPLES["shouwen.case.closed.v1"], "note_from_inquirer": "张三 13800000000"}

    masked = mask_event_data("shouwen.case.closed.v1", data)

    assert masked["note_from_inquirer"] == "张******"
    assert masked["reason"] == "completed"


def test_unknown_event_type_masks_every_string() -> None:
    masked = mask_event_data("shouwen.case.unheard_of.v9",
                             {"who": "张三", "n": 3, "tags": ["13800000000"]})

    assert masked == {"who": "张*", "n": 3, "tags": ["138****0000"]}


def test_value_of_unexpected_shape_under_a_nested_field_is_masked() -> None:
    masked = mask_event_data("shouwen.case.result_delivered.v1",
                             {"method": "pick_up", "recipient_name": "张三",
                              "pickup_record": "张小三 62010219900101002X"})

    assert masked["pickup_record"] == "张******"
