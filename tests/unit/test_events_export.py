"""The exported JSON Schemas and AsyncAPI document match the models, and staleness is caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from events import export, model_for, new_event
from events.envelope import schema_uri
from events.export import expected_files, write_schemas
from tests.unit.test_events_samples import SAMPLES, case_types


def test_committed_schema_files_are_up_to_date() -> None:
    stale = write_schemas(check=True)

    assert stale == [], f"stale event contract files {stale}: run `shouwen schemas`"


@pytest.fixture
def tmp_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    monkeypatch.setattr(export, "EVENTS_DIR", events_dir)
    monkeypatch.setattr(export, "SCHEMAS_DIR", events_dir / "schemas")
    monkeypatch.setattr(export, "ASYNCAPI_FILE", events_dir / "asyncapi.json")
    return events_dir


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.json"))}


def test_check_names_stale_missing_and_extra_files_and_writes_nothing(tmp_events: Path) -> None:
    written = write_schemas()
    assert "events/asyncapi.json" in written
    assert "events/schemas/cloudevent.json" in written
    assert write_schemas(check=True) == []
    schemas = tmp_events / "schemas"
    (schemas / "shouwen.case.replied.v1.json").write_text("{}\n")
    (schemas / "shouwen.case.closed.v1.json").unlink()
    (schemas / "shouwen.case.gone.v1.json").write_text("{}\n")
    before = _snapshot(tmp_events)

    stale = write_schemas(check=True)

    assert stale == [
        "events/schemas/shouwen.case.closed.v1.json",
        "events/schemas/shouwen.case.gone.v1.json",
        "events/schemas/shouwen.case.replied.v1.json",
    ]
    assert _snapshot(tmp_events) == before
    assert write_schemas() == stale
    assert write_schemas(check=True) == []
    assert not (schemas / "shouwen.case.gone.v1.json").exists()


def test_output_is_deterministic_sorted_and_ends_with_newline() -> None:
    first, second = expected_files(), expected_files()

    assert first == second
    for text in first.values():
        assert text.endswith("}\n")
        assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=2,
                                  sort_keys=True) + "\n"


def _schema(event_type: str) -> dict[str, Any]:
    return json.loads((export.SCHEMAS_DIR / f"{event_type}.json").read_text())


@pytest.mark.parametrize("event_type", case_types())
def test_schema_id_is_the_dataschema_events_carry(event_type: str) -> None:
    payload = model_for(event_type).model_validate(SAMPLES[event_type])
    event = new_event(payload, subject="case-1", actor="staff:S1")

    schema = _schema(event_type)

    assert schema["$id"] == event.dataschema == schema_uri(event_type)
    assert schema["title"] == model_for(event_type).__name__
    assert schema["x-event-type"] == event_type


def _personal_properties(schema: dict[str, Any]) -> set[str]:
    found = {n for n, p in schema["properties"].items() if p.get("x-personal-data")}
    for name, definition in schema.get("$defs", {}).items():
        found |= {f"{name}.{n}" for n, p in definition.get("properties", {}).items()
                  if p.get("x-personal-data")}
    return found


def test_personal_data_is_marked_and_only_where_needed() -> None:
    marked = {t: _personal_properties(_schema(t)) for t in case_types()}

    assert {t: m for t, m in marked.items() if m} == {
        "shouwen.case.received.v1": {
            "inquirer_name", "inquirer_phone", "inquirer_address", "inquirer_work_unit",
            "inquirer_id_number", "inquirer_email"},
        "shouwen.case.result_delivered.v1": {
            "recipient_name", "recipient_contact",
            "PickupRecord.collector_name", "PickupRecord.collector_id_number"},
        "shouwen.case.complaint_filed.v1": {"complainant_name", "complainant_phone"},
        "shouwen.case.notification_sent.v1": {"address", "subject", "message"},
        "shouwen.case.notification_failed.v1": {"address"},
    }


def test_envelope_schema_describes_the_cloudevent() -> None:
    schema = json.loads((export.SCHEMAS_DIR / "cloudevent.json").read_text())

    assert schema["$id"] == schema_uri("cloudevent")
    assert {"id", "source", "type", "subject", "time", "actor", "data"} <= set(schema["required"])
    assert schema["properties"]["actor"]["pattern"].startswith("^(staff|inquirer")


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_asyncapi_has_one_message_per_event_type_pointing_at_its_schema_file() -> None:
    doc = json.loads(export.ASYNCAPI_FILE.read_text())
    channel = doc["channels"]["caseEvents"]

    assert doc["asyncapi"] == "3.0.0"
    assert channel["address"] == "shouwen.case-events"
    assert doc["channels"]["deadLetter"]["address"] == "shouwen.dead-letter"
    assert set(case_types()) <= set(channel["messages"])
    for event_type in case_types():
        message = _resolve(doc, channel["messages"][event_type]["$ref"])
        payload_file = export.ASYNCAPI_FILE.parent / message["payload"]["$ref"]
        assert json.loads(payload_file.read_text())["$id"] == schema_uri(event_type)
        assert message["headers"]["allOf"][1]["properties"]["ce_type"]["const"] == event_type
        assert message["bindings"]["kafka"]["key"] == doc["components"]["schemas"]["caseKey"]


def test_asyncapi_internal_references_resolve() -> None:
    doc = json.loads(export.ASYNCAPI_FILE.read_text())
    refs = [v for _, v in _walk(doc) if isinstance(v, str) and v.startswith("#/")]

    assert refs
    for ref in refs:
        _resolve(doc, ref)
    for operation in doc["operations"].values():
        assert _resolve(doc, operation["channel"]["$ref"])["address"]


def _walk(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [(k, v) for k, v in node.items()] + [x for v in node.values() for x in _walk(v)]
    if isinstance(node, list):
        return [x for v in node for x in _walk(v)]
    return []
