"""Export the event contract as files other teams and tools can read.

    events/schemas/<type>.json    one JSON Schema (2020-12) per registered payload type:
                                  $id = the event's ``dataschema`` URI, title, and
                                  ``x-personal-data: true`` on every inquirer-personal field
    events/schemas/cloudevent.json  the envelope
    events/asyncapi.json          AsyncAPI 3.0: channel shouwen.case-events (key = case id,
                                  CloudEvents Kafka binary binding), shouwen.dead-letter,
                                  one message per event type, payloads by reference to the
                                  schema files

AsyncAPI is written as JSON (which is also YAML) because PyYAML is not a dependency and the
file must not depend on what happens to be installed. Output is deterministic (sorted keys,
two-space indent, trailing newline) so ``write_schemas(check=True)`` can tell stale files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from events.envelope import ACTOR_RE, CloudEvent, schema_uri
from events.export_asyncapi import asyncapi_document
from events.fields import PERSONAL_MARK
from events.registry import EventPayload, registered_types

JSON_SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
EVENTS_DIR = Path(__file__).resolve().parent
SCHEMAS_DIR = EVENTS_DIR / "schemas"
ASYNCAPI_FILE = EVENTS_DIR / "asyncapi.json"
ENVELOPE_FILE = "cloudevent.json"


def dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def payload_schema(event_type: str, model: type[EventPayload]) -> dict[str, Any]:
    """The JSON Schema of one payload type, as exported."""
    schema = model.model_json_schema()
    _hoist_personal_marks(schema)
    for definition in schema.get("$defs", {}).values():
        _hoist_personal_marks(definition)
    _discriminator_as_property_name(schema)
    return {
        **schema,
        "$schema": JSON_SCHEMA_DRAFT,
        "$id": schema_uri(event_type),
        "title": model.__name__,
        "x-event-type": event_type,
    }


def _hoist_personal_marks(schema: dict[str, Any]) -> None:
    """Mark a property itself when a branch of it is personal (``PersonalText | None``)."""
    for prop in schema.get("properties", {}).values():
        branches = prop.get("anyOf", []) + prop.get("oneOf", [])
        if any(b.get(PERSONAL_MARK) for b in branches):
            prop[PERSONAL_MARK] = True


def _discriminator_as_property_name(node: Any) -> None:
    """Pydantic writes OpenAPI's ``discriminator: {propertyName, mapping}``; the AsyncAPI
    Schema Object (which the payloads also are) wants the property name, a string. JSON
    Schema validators ignore the keyword either way; every branch pins the property by
    ``const``, so the mapping adds nothing."""
    if isinstance(node, dict):
        found = node.get("discriminator")
        if isinstance(found, dict) and "propertyName" in found:
            node["discriminator"] = found["propertyName"]
        for value in node.values():
            _discriminator_as_property_name(value)
    elif isinstance(node, list):
        for value in node:
            _discriminator_as_property_name(value)


def envelope_schema() -> dict[str, Any]:
    schema = CloudEvent.model_json_schema()
    schema["properties"]["actor"]["pattern"] = ACTOR_RE.pattern
    return {
        **schema,
        "$schema": JSON_SCHEMA_DRAFT,
        "$id": schema_uri("cloudevent"),
        "title": "CloudEvent",
    }


def expected_files() -> dict[Path, str]:
    """Every exported file and its exact content."""
    files = {
        SCHEMAS_DIR / f"{event_type}.json": dumps(payload_schema(event_type, model))
        for event_type, model in registered_types().items()
    }
    files[SCHEMAS_DIR / ENVELOPE_FILE] = dumps(envelope_schema())
    files[ASYNCAPI_FILE] = dumps(asyncapi_document(registered_types(), ENVELOPE_FILE))
    return files


def _name(path: Path) -> str:
    return str(path.relative_to(EVENTS_DIR.parent))


def _differing(files: dict[Path, str]) -> tuple[list[Path], list[Path]]:
    """(files missing or stale, files on disk that should not be there)."""
    changed = [p for p, text in files.items() if not p.exists() or p.read_text("utf-8") != text]
    extra = [p for p in SCHEMAS_DIR.glob("*.json") if p not in files]
    return sorted(changed), sorted(extra)


def write_schemas(check: bool = False) -> list[str]:
    """Bring the exported files up to date with the models.

    check=True: write nothing; return the names of stale, missing and extra files.
    check=False: write stale/missing files, remove extra ones; return their names.
    Names are relative to the repository root (``events/schemas/...``).
    """
    files = expected_files()
    changed, extra = _differing(files)
    if not check:
        SCHEMAS_DIR.mkdir(exist_ok=True)
        for path in changed:
            path.write_text(files[path], encoding="utf-8")
        for path in extra:
            path.unlink()
    return [_name(p) for p in sorted(changed + extra)]
