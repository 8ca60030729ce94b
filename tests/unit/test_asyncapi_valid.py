"""events/asyncapi.json is a valid AsyncAPI 3.0.0 document, checked against the official
JSON Schema of the specification (vendored: tests/data/asyncapi-3.0.0.schema.json, from
@asyncapi/specs 6.11.1), with every payload file bundled in as the AsyncAPI parser
dereferences it — so a payload schema the parser would refuse (an OpenAPI-style
``discriminator`` object) fails here too."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from events import export

SPEC = Path(__file__).resolve().parents[1] / "data" / "asyncapi-3.0.0.schema.json"


def validator() -> Draft7Validator:
    spec = json.loads(SPEC.read_text("utf-8"))
    # the bundle carries every definition under its own $id; register each as a resource
    registry = Registry().with_resources(
        (uri, Resource.from_contents(schema, default_specification=DRAFT7))
        for uri, schema in spec["definitions"].items())
    return Draft7Validator(spec, registry=registry)


def bundled(document: dict[str, Any]) -> dict[str, Any]:
    """The document with each ``schemas/<type>.json`` payload reference replaced by the file."""
    doc = copy.deepcopy(document)
    for message in doc["components"]["messages"].values():
        ref = message.get("payload", {}).get("$ref", "")
        if ref.startswith("schemas/"):
            message["payload"] = json.loads((export.EVENTS_DIR / ref).read_text("utf-8"))
    return doc


def errors(document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator().iter_errors(document)]


def committed() -> dict[str, Any]:
    return json.loads(export.ASYNCAPI_FILE.read_text("utf-8"))


def test_the_committed_document_is_valid_asyncapi_3() -> None:
    doc = bundled(committed())
    assert doc["asyncapi"] == "3.0.0"
    assert errors(doc) == []


def test_an_openapi_style_discriminator_is_refused() -> None:
    doc = bundled(committed())
    payload = doc["components"]["messages"]["shouwen.case.referred.v1"]["payload"]
    assert payload["properties"]["referral"]["discriminator"] == "kind"
    payload["properties"]["referral"]["discriminator"] = {"propertyName": "kind"}
    assert any("discriminator" in e for e in errors(doc))


@pytest.mark.parametrize("breakage", ["server", "operation"])
def test_the_validator_sees_a_broken_document(breakage: str) -> None:
    doc = bundled(committed())
    if breakage == "server":
        doc["servers"]["production"]["protocol"] = 9092
    else:
        doc["operations"]["publishCheckpoints"]["action"] = "publish"  # AsyncAPI 2 wording
    assert errors(doc)


def test_checkpoints_channel_and_production_server() -> None:
    from services.proof.settings import ProofSettings

    doc = committed()
    assert doc["channels"]["checkpoints"]["address"] == \
        ProofSettings.model_fields["checkpoints_topic"].default
    operation = doc["operations"]["publishCheckpoints"]
    assert operation["action"] == "send"
    assert doc["servers"]["production"]["host"] == "shouwen-kafka-kafka-bootstrap.kafka.svc:9092"
    scheme = doc["servers"]["production"]["security"][0]["$ref"].rsplit("/", 1)[1]
    assert doc["components"]["securitySchemes"][scheme]["type"] == "scramSha512"


@pytest.mark.parametrize("prev", [0, 2])
def test_the_checkpoint_message_describes_what_the_checkpointer_publishes(tmp_path: Path,
                                                                          prev: int) -> None:
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from jsonschema import Draft202012Validator

    from services.proof import checkpointer, note

    class Producer:  # what publish() hands the topic
        sent: list[bytes] = []

        def send(self, topic: str, key: bytes, value: bytes) -> None:
            self.sent.append(value)

        def flush(self, timeout: float) -> None:
            pass

    cp = note.sign("shouwen.test", 3, bytes(32), datetime.now(UTC), Ed25519PrivateKey.generate())
    producer = Producer()
    checkpointer.publish(checkpointer.Taken(cp, prev, [bytes(32)] if prev else []), tmp_path,
                         producer, "shouwen.checkpoints")
    published = json.loads(producer.sent[0])
    schema = committed()["components"]["messages"]["checkpoint"]["payload"]
    Draft202012Validator(schema).validate(published)
    assert set(published) == set(schema["properties"])
