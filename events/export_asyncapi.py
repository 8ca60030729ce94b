"""The AsyncAPI 3.0 document of the bus, built from the registered payload types.

    channels
      caseEvents   address shouwen.case-events   key = case id (the CloudEvent subject)
                   one message per event type: CloudEvents Kafka binary binding, i.e.
                   ce_* headers + content-type, value = the JSON data
      deadLetter   address shouwen.dead-letter   the original key, value and headers, plus
                   dlq_* headers saying which consumer gave up on it and why
      checkpoints  address shouwen.checkpoints   each signed checkpoint (key = origin), a
                   courtesy copy for outside verifiers
    operations     the relay sends case events; services receive them; consumers send
                   dead letters; the checkpointer sends checkpoints
    servers        local (the development broker) and production (Strimzi's bootstrap
                   service, SCRAM-SHA-512: k8s/platform/kafka.yaml)

Payloads refer to the schema files (``schemas/<type>.json``) next to this document.
"""

from __future__ import annotations

from typing import Any

from events.envelope import ACTOR_RE, SUBJECT_RE, TRACEPARENT_RE, schema_uri
from events.registry import EventPayload

KAFKA_BINDING = "0.5.0"
CASE_EVENTS = "shouwen.case-events"
DEAD_LETTER = "shouwen.dead-letter"
CHECKPOINTS = "shouwen.checkpoints"
# Strimzi's bootstrap service of the Kafka cluster `shouwen-kafka` (namespace kafka), the
# SCRAM listener: the same address as k8s/configmap.yaml's KAFKA_BOOTSTRAP_SERVERS.
PRODUCTION_BOOTSTRAP = "shouwen-kafka-kafka-bootstrap.kafka.svc:9092"
ID_SCHEMA = {"type": "string", "format": "uuid"}


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def cloudevent_headers() -> dict[str, Any]:
    """Kafka headers of the CloudEvents binary binding, as Shouwen writes them (UTF-8)."""
    props = {
        "content-type": _string("datacontenttype", const="application/json"),
        "ce_specversion": _string("CloudEvents version", const="1.0"),
        "ce_id": {**ID_SCHEMA, "description": "event id (UUIDv7)"},
        "ce_source": _string("who produced it, a URI reference"),
        "ce_type": _string("versioned event type", pattern=r"^shouwen\.[a-z_.]+\.v[0-9]+$"),
        "ce_subject": _string("the case id; also the message key", pattern=SUBJECT_RE.pattern),
        "ce_time": _string("when it happened, UTC", format="date-time"),
        "ce_dataschema": _string("URI of the payload's JSON Schema ($id)"),
        "ce_actor": _string("who did it", pattern=ACTOR_RE.pattern),
        "ce_causationid": {**ID_SCHEMA, "description": "the event this one reacted to"},
        "ce_correlationid": {**ID_SCHEMA, "description": "first event of the conversation"},
        "ce_sequence": _string("version in the case stream, 1, 2, ...", pattern="^[1-9][0-9]*$"),
        # the CloudEvents distributed-tracing extension (W3C Trace Context), when traced
        "ce_traceparent": _string("W3C traceparent of the span that published it",
                                  pattern=TRACEPARENT_RE.pattern),
        "ce_tracestate": _string("W3C tracestate, vendor trace data"),
    }
    required = ["content-type", "ce_specversion", "ce_id", "ce_source", "ce_type",
                "ce_subject", "ce_time", "ce_actor"]
    return {"type": "object", "properties": props, "required": required}


def case_key() -> dict[str, Any]:
    return _string("the case id (= ce_subject), UTF-8", pattern=SUBJECT_RE.pattern)


def _summary(model: type[EventPayload]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


def event_message(event_type: str, model: type[EventPayload]) -> dict[str, Any]:
    return {
        "name": event_type,
        "title": model.__name__,
        "summary": _summary(model),
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "allOf": [
                {"$ref": "#/components/schemas/cloudEventHeaders"},
                {"properties": {
                    "ce_type": {"const": event_type},
                    "ce_dataschema": {"const": schema_uri(event_type)},
                }},
            ]
        },
        "payload": {"$ref": f"schemas/{event_type}.json"},
        # the key schema inline: a {"$ref"} here matches both branches of the Kafka
        # binding's oneOf (Schema Object | Reference Object), which AsyncAPI refuses
        "bindings": {"kafka": {"key": case_key(), "bindingVersion": KAFKA_BINDING}},
    }


def dead_letter_message() -> dict[str, Any]:
    headers = {
        "dlq_reason": _string("why the consumer could not process it"),
        "dlq_consumer": _string("the consumer (group) that gave up"),
        "dlq_topic": _string("topic the message was read from"),
        "dlq_partition": _string("its partition", pattern="^[0-9]+$"),
        "dlq_offset": _string("its offset", pattern="^[0-9]+$"),
    }
    return {
        "name": "dead-letter",
        "title": "DeadLetter",
        "summary": "A message a consumer could not process: original key, value and headers.",
        "description": "Key, value and ce_* headers are copied unchanged (they may be "
        "undecodable); the dlq_* headers say what went wrong. The consumer moves on.",
        "headers": {"type": "object", "properties": headers,
                    "required": ["dlq_reason", "dlq_consumer"], "additionalProperties": True},
        "payload": {"description": "the original value, unchanged"},
    }


def checkpoint_message() -> dict[str, Any]:
    """services/proof/checkpointer.publish: the JSON of checkpoint-<size>.json."""
    hex_ = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
    payload = {
        "type": "object",
        "properties": {
            "origin": _string("the log's origin line (the signing key's name)"),
            "tree_size": {"type": "integer", "minimum": 0,
                          "description": "events covered: the first tree_size of the log"},
            "root_hash": {**hex_, "description": "Merkle root (RFC 6962), hex"},
            "time": _string("when it was signed, UTC"),
            "key_name": _string("the signing key's name"),
            "key_id": {**hex_, "description": "the signing key's id (4 bytes), hex"},
            "note": _string("the signed note (C2SP signed-note format)"),
            "prev_tree_size": {"type": ["integer", "null"],
                               "description": "the size of the checkpoint before, if any"},
            "consistency_proof": {"type": "array", "items": hex_,
                                  "description": "prev_tree_size..tree_size, hex hashes"},
        },
        "required": ["origin", "tree_size", "root_hash", "time", "key_name", "key_id", "note"],
    }
    return {
        "name": "checkpoint",
        "title": "Checkpoint",
        "summary": "A signed checkpoint of the event log (a courtesy copy: the table and the "
        "published files are the record).",
        "contentType": "application/json",
        "payload": payload,
        "bindings": {"kafka": {"key": _string("the origin"),
                               "bindingVersion": KAFKA_BINDING}},
    }


def _channel(address: str, description: str, messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "bindings": {"kafka": {"topic": address, "bindingVersion": KAFKA_BINDING}},
    }


def _operation(action: str, channel: str, messages: list[str], summary: str) -> dict[str, Any]:
    return {
        "action": action,
        "summary": summary,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages],
    }


def asyncapi_document(types: dict[str, type[EventPayload]], envelope_file: str) -> dict[str, Any]:
    messages = {t: event_message(t, m) for t, m in sorted(types.items())}
    dead = {"dead-letter": dead_letter_message()}
    checkpoint = {"checkpoint": checkpoint_message()}
    case_ids = list(messages)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Shouwen (首问) case events",
            "version": "1.0.0",
            "description": "Every fact about a case, in commit order, keyed by case id. "
            f"Envelope: CloudEvents 1.0 (schemas/{envelope_file}); types are versioned and "
            "old versions are upcast on read.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "localhost:9092", "protocol": "kafka",
                      "description": "development broker; see KAFKA_BOOTSTRAP_SERVERS"},
            "production": {
                "host": PRODUCTION_BOOTSTRAP, "protocol": "kafka",
                "description": "Strimzi's Kafka `shouwen-kafka` (KRaft, 3 brokers); each "
                "service authenticates as its own KafkaUser (k8s/platform/kafka-users.yaml)",
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
            },
        },
        "channels": {
            "caseEvents": _channel(CASE_EVENTS, "Every case event, key = case id.", messages),
            "deadLetter": _channel(DEAD_LETTER, "Messages a consumer gave up on.", dead),
            "checkpoints": _channel(CHECKPOINTS, "Signed checkpoints, key = origin.",
                                    checkpoint),
        },
        "operations": {
            "publishCaseEvents": _operation("send", "caseEvents", case_ids,
                                            "The relay publishes committed events."),
            "consumeCaseEvents": _operation("receive", "caseEvents", case_ids,
                                            "Services consume them in consumer groups."),
            "sendDeadLetter": _operation("send", "deadLetter", ["dead-letter"],
                                         "A consumer records what it could not process."),
            "publishCheckpoints": _operation("send", "checkpoints", ["checkpoint"],
                                             "The checkpointer publishes each signed "
                                             "checkpoint."),
        },
        "components": {
            "messages": {**messages, **dead, **checkpoint},
            "securitySchemes": {
                "scram": {"type": "scramSha512",
                          "description": "SASL SCRAM-SHA-512; the password is in the "
                          "secret Strimzi makes for the service's KafkaUser"},
            },
            "schemas": {
                "cloudEventHeaders": cloudevent_headers(),
                "caseKey": case_key(),
            },
        },
    }
