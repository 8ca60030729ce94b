"""The faust-streaming base: an app configured for our brokers, and an inbox agent.

    make_app(settings, name)            faust.App: kafka:// brokers, raw bytes in and out,
                                        short session/rebalance timings (fine for Tansu and
                                        for Kafka), web server off unless a port is given,
                                        local state under settings.data_dir/faust/<name>
    run_worker(app)                     run it until SIGTERM, web server as configured
    worker_for(app)                     the worker run_worker runs (no terminal spinner)
    inbox_agent(app, settings, name, handler)
        agent on settings.case_events_topic
          async for event in stream.noack().events()        raw value, headers, coordinates
              a type outside ``reads``: acked unopened (services/common/reads.py)
              await to_thread(InboxHandling.process)         decode, upcast, ONE transaction
                                                             (inbox + handler) from a psycopg
                                                             pool, or dead-letter and go on
              await stream.ack(event)                        only now may faust commit past it

By default faust acks a message whose agent raised, and so skips it silently. Here nothing
raises out of the agent for a bad message (it is dead-lettered first), and a message is
acked only once its transaction committed or its dead letter was acked; cancelled work is
never acked, so it is redelivered. Faust commits offsets itself, so a crash can redeliver
what was already handled: the inbox makes that harmless.

The handler runs in a worker thread (``asyncio.to_thread``) so a slow transaction never
blocks the event loop that keeps the consumer group's heartbeats going.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Iterable
from typing import Any, cast

import faust
from faust.types import AgentT, EventT, StreamT
from mode import ServiceT
from prometheus_client import REGISTRY, CollectorRegistry
from psycopg_pool import ConnectionPool

from services.common.backoff import Backoff
from services.common.consumer import Handler, InboxHandling, Outcome, required
from services.common.deadletter import DeadLetters, Delivery
from services.common.metrics import skip_counter
from services.common.reads import EVERYTHING, Reads
from services.common.settings import Settings

log = logging.getLogger(__name__)

# Part of the consumer-group id and of every changelog topic name: change only on purpose.
APP_VERSION = 1


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def make_app(
    settings: Settings, name: str, *, web_port: int | None = None, **overrides: Any
) -> faust.App:
    """A faust App named ``name`` (its consumer group) on this deployment's brokers."""
    bootstrap = settings.kafka_bootstrap_servers
    if not bootstrap:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set: a faust app needs its brokers")
    datadir = settings.data_dir / "faust" / name
    datadir.parent.mkdir(parents=True, exist_ok=True)  # faust makes only the last level
    config: dict[str, Any] = {
        "broker": broker_urls(bootstrap),
        "version": APP_VERSION,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "store": "memory://",
        "datadir": str(datadir),
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 1.0,
        "broker_rebalance_timeout": 10.0,
        "broker_request_timeout": 30.0,
        "broker_commit_interval": 1.0,
        # Faust would otherwise hold a stop or a rebalance until every fetched message is
        # acked, i.e. for as long as the database is away. Not waiting is safe here: what is
        # not acked is not committed, comes back, and the inbox absorbs any repeat.
        "stream_wait_empty": False,
        "producer_acks": -1,
        "web_enabled": web_port is not None,
        "web_port": web_port or 6066,
    }
    from services.common import tracing

    tracing.setup(name, settings.otlp_endpoint)  # off unless SHOUWEN_OTLP_ENDPOINT is set
    credentials = broker_credentials(settings)
    if credentials is not None:
        config["broker_credentials"] = credentials
    config.update(overrides)
    return _App(name, **config)


class _App(faust.App):
    """A faust App without faust's own Monitor sensor. The Monitor keeps statistics (counts
    by topic and stream, event states, run times) for faust's web views, which no service
    serves: our metrics are our own (prometheus-client). It ran on every message (in, stream
    in, stream out, out), part of faust's per-message cost that a batch consumer pays
    whether it reads a message or skips it."""

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        dependencies = super().on_init_dependencies()  # adds the Monitor to the sensors
        self.sensors.remove(self.monitor)
        return dependencies


def broker_credentials(settings: Settings) -> Any:
    """faust's (aiokafka's) form of the Kafka security settings; None for plaintext."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        import ssl

        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        context = ssl.create_default_context(cafile=cafile)
    if protocol.startswith("SASL_"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            ssl_context=context, mechanism=settings.kafka_sasl_mechanism or "PLAIN")
    return faust.SSLCredentials(context)


def delivery_of(message: Any) -> Delivery:
    return Delivery(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=Delivery.normalise_headers(message.headers),
    )


def inbox_agent(
    app: faust.App,
    settings: Settings,
    name: str,
    handler: Handler,
    *,
    topic: str | None = None,
    backoff: Backoff | None = None,
    pool_size: int = 2,
    reads: Reads = EVERYTHING,
    registry: CollectorRegistry = REGISTRY,
) -> AgentT:
    """Declare the agent that runs ``handler`` exactly-once in effect for consumer ``name``;
    a message of a type outside ``reads`` is acked unopened, counted on ``registry``."""
    db_url, bootstrap = required(settings)
    handling = InboxHandling(
        name, handler, DeadLetters(bootstrap, settings.dead_letter_topic, name), backoff,
        reads=reads, on_skip=skip_counter(name, registry),
    )
    channel = app.topic(
        topic or settings.case_events_topic,
        key_serializer="raw", value_serializer="raw", allow_empty=True,
    )

    async def consume(stream: StreamT) -> None:
        manual = cast(faust.Stream, stream).noack()
        pool = ConnectionPool(
            db_url, min_size=1, max_size=pool_size, open=False,
            kwargs={"autocommit": True, "application_name": f"shouwen-{name}"},
        )
        pool.open()  # connects in the background; the first use waits for it
        event: EventT
        try:
            async for event in manual.events():
                delivery = delivery_of(event.message)
                skipped = handling.reads.skipped(delivery)
                if skipped is None:
                    await _in_thread(handling, pool, delivery)
                else:  # no thread, no transaction: nothing of it is read
                    handling.count_skipped(skipped)
                await manual.ack(event)
        finally:
            await asyncio.to_thread(_close, pool, handling.dead_letters)

    return app.agent(channel, name=f"{name}.inbox")(consume)


async def _in_thread(handling: InboxHandling, pool: ConnectionPool, delivery: Delivery) -> Outcome:
    stop = threading.Event()
    try:
        return await asyncio.to_thread(handling.process, delivery, pool.connection, stop=stop)
    except asyncio.CancelledError:
        stop.set()  # end any retry loop; the message stays un-acked and comes back
        raise


def _close(pool: ConnectionPool, dead_letters: DeadLetters) -> None:
    pool.close(timeout=5)
    dead_letters.close()


FREEZE_AFTER = 5.0  # seconds after start: joined the group, first batch and caches loaded


def run_worker(app: faust.App, loglevel: str = "INFO") -> None:
    """Run ``app`` as a worker until SIGTERM/SIGINT (a clean stop: un-acked work comes back).

    Unlike ``faust worker`` (whose ``--with-web`` default switches the web server on), this
    keeps the app's own ``web_enabled``, so two services on one host do not fight over 6066.

    Once started, everything built so far (faust, aiokafka, pydantic's validators, the
    directory, templates: the process's lifetime heap) is frozen out of the cyclic garbage
    collector (``gc.freeze``), as intake does: every full collection walked all of it (py-spy
    --native in the city day: most of the notification worker's busy samples were in
    ``gc_collect_main``)."""
    @app.task
    async def _freeze_startup_heap() -> None:
        await asyncio.sleep(FREEZE_AFTER)
        gc.collect()  # what is garbage now is not frozen in with the rest
        gc.freeze()

    worker_for(app, loglevel).execute_from_commandline()


def worker_for(app: faust.App, loglevel: str = "INFO") -> faust.Worker:
    """The worker ``run_worker`` runs, without faust's terminal spinner. At WARNING and
    above faust keeps the spinner, and to spin it on every log record it sets the root
    logger to DEBUG: every ``log.debug`` in the process (a timer's every tick, the Kafka
    client's every request) then builds its record and goes through the handlers, only
    to be dropped there. A service's output goes to a log, not a terminal: no spinner, and
    the root logger stays at ``loglevel``."""
    from services.common.logs import dict_config

    # faust (mode) sets up logging itself: with our config, its records look like everyone's.
    # It would also replace sys.stdout/sys.stderr with proxies that log what is written; our
    # handler writes to sys.stderr, so the records would go into that proxy and be lost.
    worker = faust.Worker(app, loglevel=loglevel, logging_config=dict_config(),
                          redirect_stdouts=False)
    worker.spinner = None
    return worker
