"""A faust agent that handles its messages in batches (BatchHandling), acking after commit.

    agent loop:  async for event in stream.noack().events()
                     pending.append(event); full (max_size)? ─▶ wait for the flush in hand
                     (if any) to end, then start flushing these as a task, and read on
    timer:       every max_wait: the oldest pending waited max_wait? ─▶ flush, started as
                 a task (the timer itself returns at once; one flush runs at a time)
    flush:       (one at a time) BatchHandling.process in a worker thread: ONE transaction
                 (none for a batch of types the consumer does not read: ``reads``)
                 ─▶ observe(deliveries, outcomes, seconds) if given (metrics)
                 ─▶ then ack each event, so faust may commit past them

Collector: a batch makes hundreds of thousands of short-lived objects (events, states,
rows); with Python's default young-generation threshold (700) the cyclic collector runs
hundreds of times a batch, each time walking what survived. ``batch_agent`` raises it for
the worker process (GC_THRESHOLD): about a quarter less CPU per message, measured.

Double buffering: while one batch is in its transaction, the agent reads the next one, so
faust's own work per message (fetching, decoding records, the stream) is not added to the
transaction's but done meanwhile; at most one batch waits behind the one in hand. Batches
are still handled one after the other in delivery order, and a failed flush ends the agent
as before (the consume loop awaits it).

Why not ``Stream.take_events``: it acks its buffer in a ``finally``, so a batch whose
transaction never committed (worker stopped during a database outage) would be acked and
lost. Here nothing is acked before its commit (or its dead letter); a cancelled flush leaves
its events un-acked, and they come back after a restart, where the inbox absorbs whatever
had committed after all. On shutdown the batch in hand is let finish (retries of a failing
one end at once) before the connection pool closes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import faust
from faust.types import AgentT, EventT, StreamT
from prometheus_client import REGISTRY, CollectorRegistry
from psycopg_pool import ConnectionPool

from services.common.backoff import Backoff, Stopped
from services.common.batch import BatchHandler, BatchHandling
from services.common.consumer import Handler, InboxHandling, Outcome, required
from services.common.deadletter import DeadLetters, Delivery
from services.common.faust_base import delivery_of
from services.common.metrics import skip_counter
from services.common.reads import EVERYTHING, Reads
from services.common.settings import Settings

log = logging.getLogger(__name__)

GC_THRESHOLD = 20_000  # allocations between young-generation collections (Python: 700)

# Told of every finished batch, after its commit: (deliveries, their outcomes, seconds).
Observer = Callable[[list[Delivery], list[Outcome], float], None]


class Batcher:
    def __init__(self, handling: BatchHandling, pool: ConnectionPool, max_size: int,
                 observe: Observer | None = None) -> None:
        self.handling, self.pool, self.max_size = handling, pool, max_size
        self.observe = observe
        self.pending: list[EventT] = []
        self.since = 0.0
        self.stream: StreamT | None = None
        self.stop = threading.Event()  # set on shutdown: no more retrying, no more waiting
        self._lock: asyncio.Lock | None = None
        self._flushing: asyncio.Future[None] | None = None  # the latest flush started

    async def consume(self, stream: StreamT) -> None:
        self.stream = manual = cast(faust.Stream, stream).noack()
        event: EventT
        async for event in manual.events():
            if not self.pending:
                self.since = time.monotonic()
            self.pending.append(event)
            if len(self.pending) >= self.max_size:
                if self._flushing is not None:
                    await self._flushing  # one batch in hand at most; its failure is ours
                self._start_flush()

    def flush_if_waited(self, max_wait: float) -> None:
        """Start a flush in the background (the timer must not wait out a long batch)."""
        busy = self._lock is not None and self._lock.locked()
        if self.pending and not busy and time.monotonic() - self.since >= max_wait:
            self._start_flush()

    def _start_flush(self) -> None:
        batch, self.pending = self.pending, []  # taken now: batches keep their order
        self._flushing = asyncio.ensure_future(self.flush(batch))
        self._flushing.add_done_callback(_report)

    async def flush(self, batch: list[EventT]) -> None:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:  # FIFO: flushes run one at a time, in the order started
            if not batch or self.stream is None or self.stop.is_set():
                return  # stopping: a batch not begun stays un-acked and comes back
            try:
                await self._process(batch)
            except Stopped:
                log.info("stopping: a batch of %d was not finished; it comes back", len(batch))
                return
            for event in batch:
                await self.stream.ack(event)

    async def close(self, timeout: float = 30.0) -> None:
        """Let the batch in hand finish (or give up retrying), so the pool can close."""
        self.stop.set()
        if self._lock is not None:
            async with asyncio.timeout(timeout), self._lock:
                pass

    async def _process(self, batch: list[EventT]) -> list[Outcome]:
        deliveries = [delivery_of(e.message) for e in batch]

        def work() -> list[Outcome]:
            self.pool.open()
            began = time.perf_counter()
            outcomes = self.handling.process(deliveries, self.pool.connection, stop=self.stop)
            if self.observe is not None:
                self.observe(deliveries, outcomes, time.perf_counter() - began)
            return outcomes

        try:
            return await asyncio.to_thread(work)
        except asyncio.CancelledError:
            self.stop.set()  # end any retry loop; the batch stays un-acked and comes back
            raise


def _report(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("batch flush failed; its messages stay un-acked and come back "
                  "after a restart", exc_info=task.exception())


def batch_agent(
    app: faust.App,
    settings: Settings,
    name: str,
    handler: Handler,
    batch_handler: BatchHandler,
    *,
    max_size: int = 500,
    max_wait: float = 0.05,
    backoff: Backoff | None = None,
    observe: Observer | None = None,
    reads: Reads = EVERYTHING,
    registry: CollectorRegistry = REGISTRY,
) -> AgentT:
    """Declare an agent on the case-events topic running ``batch_handler`` exactly-once in
    effect for consumer ``name``; ``handler`` is its one-message form (the fallback).
    ``reads``: the event types the handlers read (the rest is acked unopened, counted on
    ``registry``)."""
    db_url, bootstrap = required(settings)
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])  # the worker process's own
    single = InboxHandling(
        name, handler, DeadLetters(bootstrap, settings.dead_letter_topic, name), backoff,
        reads=reads, on_skip=skip_counter(name, registry),
    )
    pool = ConnectionPool(
        db_url, min_size=1, max_size=2, open=False,
        kwargs={"autocommit": True, "application_name": f"shouwen-{name}"},
    )
    batcher = Batcher(BatchHandling(single, batch_handler), pool, max_size, observe)
    channel = app.topic(settings.case_events_topic, key_serializer="raw",
                        value_serializer="raw", allow_empty=True)

    @app.timer(max_wait, name=f"{name}.batch-timer")
    async def _flush_waiting() -> None:
        batcher.flush_if_waited(max_wait)

    @app.on_before_shutdown.connect
    async def _close(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        try:
            await batcher.close()
        except TimeoutError:
            log.warning("%s: the batch in hand did not finish in time; it comes back", name)
        await asyncio.to_thread(single.dead_letters.close)
        await asyncio.to_thread(pool.close)

    return app.agent(channel, name=f"{name}.batch")(batcher.consume)
