"""The relay: the event store, in commit order, onto the case-events topic — no gaps.

    hold the publishing lock (session advisory lock; a second relay waits as hot standby)
      └─ loop:  sequence_pass (again while a full batch)       -> commit_log (seq order)
                fetch seq > published_seq, batch by batch, and send it; while the next
                batch is read and sent, every ack of this one   -> THEN published_seq = last
                idle: sleep relay_idle_poll_seconds (no LISTEN/NOTIFY: NOTIFY takes a
                      global lock at commit and would serialise the writers)

A crash between the acks and the cursor update re-sends that batch: duplicates on the topic,
which consumers' inboxes absorb, never a gap. A DB or broker failure is logged, counted and
retried with backoff; nothing is skipped. SIGTERM/SIGINT finish the batch in hand, then exit.

Before anything is sequenced or published (at start, and every PROBE_INTERVAL) the relay
checks that the store is not behind the topic (divergence.py): if a partition ends with an
event the store lacks, PostgreSQL lost commits the topic has; the relay logs it, sets
shouwen_relay_store_behind_topic, and waits, rather than number new events in their places.

The development broker (Tansu) keeps nothing: after its restart the topic is empty while
published_seq says otherwise. The relay checks (at start, after a broker failure and every
PROBE_INTERVAL) and then **back-fills** seq 1..published_seq behind the new events: each
cycle publishes what is new first, then one chunk (BACKFILL_CHUNK batches) of the history,
so new events wait for at most one chunk, not for the whole history (days at a city's
volume). Consumers take that order: their inboxes skip what they handled, the ledger reads
a gap from the store, deadline-watch folds each case from the store. A relay restarted
mid-backfill finds the broker still behind and back-fills from seq 1 again (duplicates,
absorbed). ``recover_after_broker_restart`` re-publishes everything at once, for a broker
recovered with no relay running (recovery.py, re-exported here with ``republish``).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
from kafka import KafkaProducer
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from services.common import tracing
from services.common.backoff import Backoff, Failures
from services.common.metrics import serve
from services.common.settings import Settings
from services.relay.divergence import StoreBehindTopic, unknown_to_store
from services.relay.metrics import RelayMetrics, observe_lag, relay_metrics
from services.relay.publish import (
    CURSOR,
    Outgoing,
    PublishFailed,
    advance,
    connect,
    cursor,
    endpoints,
    publish_range,
    relay_producer,
)
from services.relay.recovery import (
    PUBLISH_LOCK,
    backfill_if_behind,
    broker_is_behind,
    recover_after_broker_restart,
    republish,
    try_lock,
)
from services.relay.sequencer import sequence_pass

__all__ = [
    "PUBLISH_LOCK", "Relay", "broker_is_behind", "observe_lag", "recover_after_broker_restart",
    "republish", "run",
]

log = logging.getLogger("services.relay")

SEQUENCE_LIMIT = 5000
STANDBY_POLL = 1.0
OBSERVE_INTERVAL = 1.0
PROBE_INTERVAL = 30.0
BACKFILL_CHUNK = 5  # relay batches of history per cycle, behind the new events


class Relay:
    """One relay process's state: the lock-holding connection, the producer, the cursor."""

    def __init__(self, settings: Settings, metrics: RelayMetrics, stop: threading.Event) -> None:
        self.settings, self.metrics, self.stop = settings, metrics, stop
        self.url, _ = endpoints(settings)
        self.conn: psycopg.Connection | None = None
        self.locked = False
        self.producer: KafkaProducer | None = None
        self.published = 0
        self.backfill: tuple[int, int] | None = None  # (next seq, last seq) of the history
        self.backoff = Failures(Backoff(first_delay=0.2, max_delay=10.0, jitter=0.2))
        self._observed_at = 0.0
        self._probed_at = 0.0
        self._told_standby = False
        self._backfilled, self._backfill_began = 0, 0.0

    def run(self, once: bool) -> None:
        while not self.stop.is_set():
            try:
                if not self._hold_lock():
                    if once:
                        log.info("another relay holds the publishing lock and publishes; done")
                        return
                    self.stop.wait(STANDBY_POLL)
                    continue
                self._ensure_producer()
                moved = self._cycle()
                self.backoff.reset()
                self._observe(force=once and not moved)
                if not moved:
                    if once:
                        return
                    self.stop.wait(self.settings.relay_idle_poll_seconds)
            except StoreBehindTopic as exc:  # never renumber: report, wait, look again
                log.error("relay: %s", exc)
                self._probed_at = 0.0
                if once:
                    raise
                self.stop.wait(PROBE_INTERVAL)
            except Exception as exc:  # retried: the relay must neither crash-loop nor skip
                self._fail(exc)
                if once:
                    raise
                self.stop.wait(self.backoff.next())

    # -- the parts ---------------------------------------------------------------------
    def _hold_lock(self) -> bool:
        if self.conn is None or self.conn.closed:
            self.conn, self.locked = connect(self.url), False
        if self.locked:
            return True
        self.locked = try_lock(self.conn)
        self.metrics.active.set(1 if self.locked else 0)
        if not self.locked:
            if not self._told_standby:
                log.info("hot standby: another relay holds the publishing lock")
                self._told_standby = True
            return False
        self.published = cursor(self.conn)
        self._probed_at = 0.0
        log.info("publishing to %s from seq %d", self.settings.case_events_topic, self.published)
        return True

    def _ensure_producer(self) -> None:
        if self.producer is None:
            self.producer = relay_producer(self.settings)
            self._probed_at = 0.0
        if self.backfill is None and time.monotonic() - self._probed_at >= PROBE_INTERVAL:
            assert self.conn is not None
            self._check_store_not_behind()
            last = backfill_if_behind(self.conn, self.settings, self.published)
            if last:
                self.backfill, self._backfilled, self._backfill_began = (1, last), 0, \
                    time.monotonic()
            self._probed_at = time.monotonic()

    def _check_store_not_behind(self) -> None:
        """Before sequencing or publishing anything: the topic must not hold events the
        store lacks (a PostgreSQL recovery that lost commits; see divergence.py)."""
        assert self.conn is not None
        _, bootstrap = endpoints(self.settings)
        unknown = unknown_to_store(self.conn, bootstrap, self.settings.case_events_topic)
        self.metrics.store_behind.set(len(unknown))
        if unknown:
            raise StoreBehindTopic(unknown, self.settings.case_events_topic)

    def _cycle(self) -> bool:
        """Sequence what has committed, then publish every sequenced event; True if any."""
        assert self.conn is not None and self.producer is not None
        moved = 0
        while not self.stop.is_set():
            sequenced = sequence_pass(self.conn, CURSOR, SEQUENCE_LIMIT)
            moved += sequenced
            if sequenced < SEQUENCE_LIMIT:
                break
        if self.stop.is_set():
            return moved > 0
        moved += publish_range(
            self.conn, self.producer, self.settings.case_events_topic, self.published + 1,
            None, self.settings.relay_batch_size, on_batch=self._acked, stop=self.stop,
        )
        if self.backfill is not None and not self.stop.is_set():
            moved += self._backfill_chunk()
        return moved > 0

    def _backfill_chunk(self) -> int:
        """One chunk of the history, behind whatever new events this cycle published."""
        assert self.conn is not None and self.producer is not None and self.backfill
        first, last = self.backfill
        upto = min(last, first + BACKFILL_CHUNK * self.settings.relay_batch_size - 1)
        sent = publish_range(self.conn, self.producer, self.settings.case_events_topic, first,
                             upto, self.settings.relay_batch_size,
                             on_batch=lambda batch, _at: self.metrics.republished.inc(len(batch)))
        self._backfilled += sent
        self.backfill = (upto + 1, last) if upto < last else None
        if self.backfill is None:
            took = time.monotonic() - self._backfill_began
            log.info("re-published %d event(s) of the history behind the new ones in %.1f s",
                     self._backfilled, took)
        return sent

    def _acked(self, batch: list[Outgoing], acked_at: float) -> None:
        """A whole batch is on the broker: now, and only now, move the cursor past it."""
        assert self.conn is not None
        advance(self.conn, batch[-1].seq)
        self.published = batch[-1].seq
        self.metrics.published.inc(len(batch))
        for message in batch:
            self.metrics.latency.observe(max(0.0, acked_at - message.recorded_at.timestamp()))

    def _observe(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._observed_at < OBSERVE_INTERVAL:
            return
        assert self.conn is not None
        observe_lag(self.conn, self.metrics)
        self._observed_at = time.monotonic()

    def _fail(self, exc: Exception) -> None:
        if isinstance(exc, psycopg.Error):
            kind = "db"
            self._close_conn()
        elif isinstance(exc, KafkaError | PublishFailed):
            kind = "broker"
            self._close_producer()
            self.backfill = None  # it may have restarted empty again: probe anew
        else:
            kind = "other"
            log.exception("relay: unexpected failure")
            self._close_conn()
            self._close_producer()
        self.metrics.errors.labels(kind).inc()
        log.warning("relay: %s failure, retrying (published_seq=%d): %s", kind, self.published, exc)

    def _close_conn(self) -> None:
        if self.conn is not None:
            with suppress(Exception):
                self.conn.close()
        self.conn, self.locked = None, False
        self.metrics.active.set(0)

    def _close_producer(self) -> None:
        if self.producer is not None:
            with suppress(Exception):
                self.producer.close(timeout=2)
        self.producer = None

    def close(self) -> None:
        self._close_producer()
        self._close_conn()


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set ``stop`` (the batch in hand is finished, then run returns)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    settings: Settings,
    once: bool = False,
    *,
    stop: threading.Event | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Publish until stopped (signal or ``stop``); with ``once``, until nothing is left."""
    stop = stop or threading.Event()
    registry = registry or CollectorRegistry()
    if logging.getLogger("kafka").level == logging.NOTSET:
        logging.getLogger("kafka").setLevel(logging.WARNING)  # INFO: a line per connection
    tracing.setup("relay", settings.otlp_endpoint)  # off unless SHOUWEN_OTLP_ENDPOINT
    relay = Relay(settings, relay_metrics(registry), stop)
    server = serve(settings.relay_metrics_port, registry)
    try:
        with _stop_on_signals(stop):
            relay.run(once)
    finally:
        relay.close()
        if server is not None:
            server.shutdown()
            server.server_close()
    log.info("relay stopped at published_seq %d", relay.published)
