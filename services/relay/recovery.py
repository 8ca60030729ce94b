"""Sending the store again: a range on request, or everything after the broker lost it.

    republish(settings, from_seq, to_seq)     seq range, in order; the cursor stays put
    broker_is_behind(settings)                topic missing, or holding fewer messages than
                                              published_seq (a restarted memory-only Tansu)
    recover_after_broker_restart(settings)    if behind: seq 1..published_seq, under the
                                              publishing lock (no newer event slips in first);
                                              for a broker recovered with no relay running
    backfill_if_behind(conn, settings, pub)   the running relay's way: new events first, the
                                              history back-filled behind them (relay.py)

The publishing lock (a session advisory lock) is the one the running relay holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import psycopg
from kafka import KafkaProducer

from services.common.settings import Settings
from services.relay.metrics import RelayMetrics
from services.relay.publish import (
    connect,
    cursor,
    endpoints,
    publish_range,
    relay_producer,
    topic_end_total,
)

log = logging.getLogger("services.relay")

PUBLISH_LOCK = 0x5E0_0003


def try_lock(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (PUBLISH_LOCK,)).fetchone()
    return bool(row and row[0])


def _broker_behind(settings: Settings, published: int) -> tuple[bool, int | None]:
    """Whether the broker holds fewer messages of the case topic than ``published`` (an
    unknown count counts as fewer), and how many it holds (None: unknown)."""
    if published == 0:
        return False, None
    _, bootstrap = endpoints(settings)
    total = topic_end_total(bootstrap, settings.case_events_topic)
    return (total is None or total < published), total


def backfill_if_behind(
    conn: psycopg.Connection, settings: Settings, published: int,
) -> int:
    """The running relay's recovery: when the broker holds fewer messages than
    ``published``, return ``published`` (the history seq 1..published to back-fill behind
    new events), having forgotten the consumers' stored offsets of the old log; else 0."""
    behind, total = _broker_behind(settings, published)
    if not behind:
        return 0
    log.warning(
        "broker holds %s message(s) of %d published event(s) (restarted empty?): new events "
        "go first, seq 1..%d is back-filled behind them", total, published, published,
    )
    _forget_offsets(conn, settings)
    return published


def _forget_offsets(conn: psycopg.Connection, settings: Settings) -> None:
    # The topic's offsets started again from 0: offsets that consumers stored in PostgreSQL
    # point past or into the new log and would skip events. Forget them; the consumers read
    # the topic from its start, and their inboxes absorb what they had already handled.
    forgotten = conn.execute(
        "DELETE FROM consumer_offsets WHERE topic = %s", (settings.case_events_topic,)
    ).rowcount
    if not conn.autocommit:
        conn.commit()
    if forgotten:
        log.info("forgot %d stored consumer offset(s) of the old log", forgotten)


def republish_if_behind(
    conn: psycopg.Connection, prod: KafkaProducer, settings: Settings, published: int,
    metrics: RelayMetrics | None = None,
) -> int:
    """Re-publish seq 1..published when the broker holds fewer messages than that."""
    behind, total = _broker_behind(settings, published)
    if not behind:
        return 0
    log.warning(
        "broker holds %s message(s) of %d published event(s) (restarted empty?): "
        "re-publishing seq 1..%d", total, published, published,
    )
    count = publish_range(
        conn, prod, settings.case_events_topic, 1, published, settings.relay_batch_size,
        on_batch=(lambda batch, _at: metrics.republished.inc(len(batch))) if metrics else None,
    )
    log.info("re-published %d event(s) after the broker restart", count)
    _forget_offsets(conn, settings)
    return count


def republish(settings: Settings, from_seq: int, to_seq: int | None = None,
              progress: Callable[[int], None] | None = None) -> int:
    """Re-publish commit_log seq from_seq..to_seq (default and at most: published_seq), in
    order; published_seq does not move. Returns how many events were sent; ``progress`` is
    told each acknowledged batch's size."""
    if from_seq < 1:
        raise ValueError("from_seq must be >= 1")
    url, _ = endpoints(settings)
    with connect(url) as conn:
        published = cursor(conn)
        last = published if to_seq is None else min(to_seq, published)
        if to_seq is not None and to_seq > published:
            log.info("seq beyond %d is not published yet; the relay publishes it", published)
        if last < from_seq:
            return 0
        prod = relay_producer(settings)
        try:
            return publish_range(
                conn, prod, settings.case_events_topic, from_seq, last, settings.relay_batch_size,
                on_batch=(lambda batch, _at: progress(len(batch))) if progress else None,
            )
        finally:
            prod.close(timeout=5)


def broker_is_behind(settings: Settings) -> bool:
    """True when the topic is missing or holds fewer messages than published_seq (as after
    a restart of the memory-only development broker)."""
    url, bootstrap = endpoints(settings)
    with connect(url) as conn:
        published = cursor(conn)
    if published == 0:
        return False
    total = topic_end_total(bootstrap, settings.case_events_topic)
    return total is None or total < published


def recover_after_broker_restart(settings: Settings, wait_seconds: float = 10.0) -> int:
    """If the broker is behind, re-publish seq 1..published_seq; returns how many were sent
    (0 when it was not behind). Holds the publishing lock meanwhile. If a running relay keeps
    the lock past ``wait_seconds``, that relay recovers the broker itself (it checks at
    start, after a broker failure and every PROBE_INTERVAL): returns 0."""
    url, _ = endpoints(settings)
    with connect(url) as conn:
        deadline = time.monotonic() + wait_seconds
        while not try_lock(conn):
            if time.monotonic() > deadline:
                log.info("a running relay holds the publishing lock; it recovers the broker")
                return 0
            time.sleep(0.2)
        try:
            prod = relay_producer(settings)
            try:
                return republish_if_behind(conn, prod, settings, cursor(conn))
            finally:
                prod.close(timeout=5)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (PUBLISH_LOCK,))
