"""Kafka plumbing (kafka-python): topic creation, the idempotent producer, plain consumers.

Tansu note (DESIGN.md): kafka-python consumer *groups* stall until the rebalance timeout,
so plain consumers here assign partitions explicitly; faust agents use groups.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from services.common.settings import Settings


def kafka_security(settings: Settings | None = None) -> dict[str, object]:
    """kafka-python options for the configured security protocol ({} for plaintext), given
    to every client this code makes (admin, producer, consumers). Read from the environment
    unless ``settings`` is given: the clients below take a bootstrap string only."""
    s = settings if settings is not None else Settings()
    if s.kafka_security_protocol.upper() == "PLAINTEXT":
        return {}
    config: dict[str, object] = {"security_protocol": s.kafka_security_protocol.upper()}
    if s.kafka_sasl_mechanism:
        if not (s.kafka_sasl_username and s.kafka_sasl_password):
            raise ValueError("SHOUWEN_KAFKA_SASL_MECHANISM is set: SHOUWEN_KAFKA_SASL_USERNAME "
                             "and SHOUWEN_KAFKA_SASL_PASSWORD are needed too")
        config |= {"sasl_mechanism": s.kafka_sasl_mechanism,
                   "sasl_plain_username": s.kafka_sasl_username,
                   "sasl_plain_password": s.kafka_sasl_password.get_secret_value()}
    if s.kafka_ssl_cafile:
        config["ssl_cafile"] = str(s.kafka_ssl_cafile)
    return config


def admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="shouwen-admin",
                            **kafka_security())


def ensure_topics(
    bootstrap: str, topics: Iterable[str], partitions: int = 6, replication_factor: int = 1
) -> None:
    """Create the topics that do not exist yet; safe to call again."""
    wanted = list(topics)
    deadline = time.monotonic() + 20
    while True:
        try:
            client = admin(bootstrap)
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    try:
        existing = set(client.list_topics())
        new = [NewTopic(t, partitions, replication_factor) for t in wanted if t not in existing]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                client.create_topics(new)
    finally:
        client.close()


def producer(bootstrap: str, **overrides: object) -> KafkaProducer:
    """The idempotent producer: acks=all, retries without duplicates or reordering."""
    config: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_in_flight_requests_per_connection": 5,
        "client_id": "shouwen",
        **kafka_security(),
    }
    config.update(overrides)
    return KafkaProducer(**config)


def assigned_consumer(bootstrap: str, topic: str, from_beginning: bool = True) -> KafkaConsumer:
    """A consumer assigned every partition of ``topic`` (no group, no rebalance)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        client_id="shouwen-reader",
        **kafka_security(),
    )
    partitions = None
    deadline = time.monotonic() + 10
    while not partitions:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {topic} has no partitions")
            time.sleep(0.2)
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    if from_beginning:
        consumer.seek_to_beginning(*tps)
    return consumer


def topic_size(bootstrap: str, topic: str) -> int:
    """Number of messages currently on ``topic`` (sum of end offsets minus beginnings)."""
    consumer = assigned_consumer(bootstrap, topic)
    try:
        tps = list(consumer.assignment())
        ends = consumer.end_offsets(tps)
        begins = consumer.beginning_offsets(tps)
        return sum(ends[tp] - begins[tp] for tp in tps)
    finally:
        consumer.close()
