"""The dead-letter topic: where a message goes that a consumer could not handle.

    Delivery            one message as the broker delivered it (topic, partition, offset,
                        key, value, headers) — what both consumer bases hand around
    dead_letter_headers the original headers (minus any earlier dlq_*) plus
                        dlq_reason    short, machine-readable: "undecodable", "handler-failed", ...
                        dlq_error     exception type and message, at most ~2 KB
                        dlq_topic / dlq_partition / dlq_offset   where it came from
                        dlq_consumer  who gave up on it
                        dlq_time      when (UTC, RFC 3339)
    DeadLetters.send    publishes key and value byte-for-byte with those headers through the
                        idempotent producer (acks=all) and waits for the ack, so the consumer
                        only moves past a message once the dead-letter topic holds it.

A crash between the ack and the consumer recording its position re-sends the message to the
dead-letter topic on restart: dead letters are at-least-once, never lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer

from services.common import bus

MAX_ERROR_BYTES = 2048

Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Delivery:
    """One message exactly as the broker delivered it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)

    @staticmethod
    def normalise_headers(
        headers: Sequence[tuple[str, bytes | None]] | Mapping[str, bytes | None] | None,
    ) -> Headers:
        if headers is None:
            return []
        items: Iterable[tuple[str, bytes | None]] = (
            headers.items() if isinstance(headers, Mapping) else headers
        )
        return [(str(name), value) for name, value in items]

    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


def describe_error(error: BaseException | str) -> str:
    """``Type: message``, cut to at most MAX_ERROR_BYTES of UTF-8 (on a character boundary)."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    raw = text.encode()
    if len(raw) <= MAX_ERROR_BYTES:
        return text
    return raw[: MAX_ERROR_BYTES - 3].decode(errors="ignore") + "..."


def dead_letter_headers(
    delivery: Delivery,
    *,
    reason: str,
    error: BaseException | str,
    consumer: str,
    now: datetime | None = None,
) -> Headers:
    when = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    kept = [(k, v) for k, v in delivery.headers if not k.startswith("dlq_")]
    added = {
        "dlq_reason": reason,
        "dlq_error": describe_error(error),
        "dlq_topic": delivery.topic,
        "dlq_partition": str(delivery.partition),
        "dlq_offset": str(delivery.offset),
        "dlq_consumer": consumer,
        "dlq_time": when.replace("+00:00", "Z"),
    }
    return kept + [(k, v.encode()) for k, v in added.items()]


def header(headers: Iterable[tuple[str, bytes | None]], name: str) -> str | None:
    """The value of header ``name`` as text (the last one wins), or None."""
    found = None
    for key, value in headers:
        if key == name and value is not None:
            found = value.decode()
    return found


class DeadLetters:
    """Publishes undeliverable messages of one consumer to the dead-letter topic."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        consumer: str,
        *,
        ack_timeout: float = 30.0,
        producer: KafkaProducer | None = None,
    ) -> None:
        self.bootstrap, self.topic, self.consumer = bootstrap, topic, consumer
        self.ack_timeout = ack_timeout
        self._producer = producer

    def send(self, delivery: Delivery, *, reason: str, error: BaseException | str) -> Any:
        """Publish and wait for the broker's ack; returns the record metadata.
        Raises a KafkaError if the broker does not ack in time (the caller retries)."""
        headers = dead_letter_headers(delivery, reason=reason, error=error, consumer=self.consumer)
        future = self.producer().send(
            self.topic, key=delivery.key, value=delivery.value, headers=headers
        )
        return future.get(timeout=self.ack_timeout)

    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = bus.producer(self.bootstrap, client_id=f"shouwen-dlq-{self.consumer}")
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
