"""Shared Prometheus helpers; every name is listed in deploy/METRICS.md.

    instrument_http(app, service)   latency histogram of a FastAPI/Starlette app:
                                    shouwen_http_request_duration_seconds{shouwen_service,method,
                                    route,status}
    http_duration(registry)         that histogram, once per registry
    consumer_skipped(registry)      shouwen_consumer_skipped_total{consumer,type}: messages of
                                    a known type the consumer does not read, acknowledged
                                    unopened (services/common/reads.py); skip_counter(name,
                                    registry) counts into it for one consumer
    serve(port, registry)           expose a registry over HTTP (0: not served)
    serve_metrics(port, registry, variable)  the same for a worker: a port already taken
                                    costs the metrics, not the work (said loudly in the log,
                                    and the probes on that port tell Kubernetes)

Consumer lag and dead letters are not counted in the services: `shouwen dashboard exporter`
(services/dashboard/exporter.py) reads them for every consumer from the broker and the store.

The label naming the service is ``shouwen_service``, not ``service``: prometheus-operator
sets ``service`` (the Kubernetes Service) on every target, and a metric's own ``service``
would be renamed ``exported_service``, emptying every query that selects on it.

``route`` is the matched route's template (``/v1/cases/{case_id}``), never the raw path, so a
client cannot blow up the number of series; paths no route matched are ``<unmatched>``. The
router records the route it chose in ``scope["route"]``; routers that do not are matched
again here.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
)
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "<unmatched>"
_HTTP: weakref.WeakKeyDictionary[CollectorRegistry, Histogram] = weakref.WeakKeyDictionary()
_SKIPPED: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def http_duration(registry: CollectorRegistry = REGISTRY) -> Histogram:
    """The request-latency histogram on ``registry`` (created on first use)."""
    if registry not in _HTTP:
        _HTTP[registry] = Histogram(
            "shouwen_http_request_duration_seconds",
            "HTTP request latency, from the first byte in to the last byte out",
            ["shouwen_service", "method", "route", "status"], buckets=HTTP_BUCKETS,
            registry=registry)
    return _HTTP[registry]


def consumer_skipped(registry: CollectorRegistry = REGISTRY) -> Counter:
    """Messages a consumer acknowledged unopened, by consumer and event type (created on
    first use, once per registry)."""
    if registry not in _SKIPPED:
        _SKIPPED[registry] = Counter(
            "shouwen_consumer_skipped", "Messages of a known event type the consumer does not"
            " read, acknowledged without decoding, verifying or an inbox row",
            ["consumer", "type"], registry=registry)
    return _SKIPPED[registry]


def skip_counter(consumer: str, registry: CollectorRegistry = REGISTRY) -> Callable[[str], None]:
    """``on_skip`` for consumer ``consumer``: counts a skipped message by its type."""
    counter = consumer_skipped(registry)
    children: dict[str, Any] = {}  # type -> its labelled child, looked up once

    def count(event_type: str) -> None:
        child = children.get(event_type)
        if child is None:
            child = children[event_type] = counter.labels(consumer, event_type)
        child.inc()
    return count


def route_of(app: Any, scope: Scope) -> str:
    """The template of the route matching ``scope`` (mounts included; a route matching the
    path but not the method counts, as Starlette answers 405 from it), or UNMATCHED."""
    partial = None
    for route in getattr(app, "routes", ()):
        match, child = route.matches(scope)
        if match is Match.FULL:
            inner = getattr(route, "app", None)
            if getattr(inner, "routes", None) and not hasattr(route, "endpoint"):
                sub = route_of(inner, {**scope, **child})
                path = str(route.path)
                return path + sub if sub != UNMATCHED else path
            return _template(route)
        if match is Match.PARTIAL and partial is None:
            partial = route
    return UNMATCHED if partial is None else _template(partial)


def _template(route: Any) -> str:
    return str(getattr(route, "path_format", None) or getattr(route, "path", UNMATCHED))


class _Timed:
    """ASGI middleware observing each HTTP request's duration and status."""

    def __init__(self, app: ASGIApp, service: str, routes_of: Any, histogram: Histogram):
        self.app, self.service, self.routes_of, self.histogram = app, service, routes_of, histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            matched = scope.get("route")  # set by the router that handled it
            route = _template(matched) if matched else route_of(self.routes_of, scope)
            self.histogram.labels(self.service, scope["method"], route, str(status)).observe(
                time.perf_counter() - started)


def instrument_http(app: Any, service: str, registry: CollectorRegistry = REGISTRY) -> None:
    """Time every request of ``app`` (a FastAPI or Starlette app) as ``service``."""
    app.add_middleware(_Timed, service=service, routes_of=app.router,
                       histogram=http_duration(registry))


def serve(port: int, registry: CollectorRegistry) -> WSGIServer | None:
    """Expose ``registry`` over HTTP on ``port``; 0 means metrics are not served."""
    if port == 0:
        return None
    server, _thread = start_http_server(port, registry=registry)
    return server


def serve_metrics(port: int, registry: CollectorRegistry, variable: str) -> None:
    """Serve ``registry`` on ``port`` (0: not served); ``variable`` names the setting."""
    try:
        serve(port, registry)
    except (OSError, OverflowError) as exc:
        logging.getLogger("shouwen.metrics").error(
            "%s %d: %s; working on without metrics", variable, port,
            getattr(exc, "strerror", None) or exc)
