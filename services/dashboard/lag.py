"""Consumer lag and dead-letter tallies: pure arithmetic over offsets, no I/O.

    end offsets        {(topic, partition): last offset + 1}            from the broker
    committed offsets  {group: {(topic, partition): next offset}}       broker or consumer_offsets
          │
          ▼
    lag_rows           (group, topic, partition, end - committed) for every partition of
                       every topic the group has committed on; a partition it never
                       committed on counts from 0; never negative (a memory-only broker that
                       restarted is behind what its consumers once committed)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import NamedTuple

TopicPartition = tuple[str, int]


class LagRow(NamedTuple):
    group: str
    topic: str
    partition: int
    lag: int


def lag_rows(ends: Mapping[TopicPartition, int],
             committed: Mapping[str, Mapping[TopicPartition, int]]) -> list[LagRow]:
    rows = []
    for group, offsets in sorted(committed.items()):
        topics = {topic for topic, _ in offsets}
        for (topic, partition), end in sorted(ends.items()):
            if topic in topics:
                behind = end - offsets.get((topic, partition), 0)
                rows.append(LagRow(group, topic, partition, max(0, behind)))
    return rows


def merge(*sources: Mapping[str, Mapping[TopicPartition, int]]
          ) -> dict[str, dict[TopicPartition, int]]:
    """Committed offsets from several places; a group named in two keeps the higher offset."""
    merged: dict[str, dict[TopicPartition, int]] = {}
    for source in sources:
        for group, offsets in source.items():
            mine = merged.setdefault(group, {})
            for tp, offset in offsets.items():
                mine[tp] = max(offset, mine.get(tp, offset))
    return merged


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", errors="replace")[:64] if value else "unknown"


def tally_dead_letters(headers_of_each: Iterable[Iterable[tuple[str, bytes | None]]]
                       ) -> Counter[tuple[str, str]]:
    """(dlq_consumer, dlq_reason) -> how many dead letters carry them ("unknown" if absent)."""
    tally: Counter[tuple[str, str]] = Counter()
    for headers in headers_of_each:
        found = dict(headers)
        tally[_text(found.get("dlq_consumer")), _text(found.get("dlq_reason"))] += 1
    return tally
