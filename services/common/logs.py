"""One log format for every Shouwen process: text by default, JSON lines when
SHOUWEN_LOG_FORMAT=json, each record carrying the case id, event id and trace id in force.

    configure(settings)        the root logger on stderr (every CLI entry point calls it)
    dict_config(settings)      the same as a logging.config dict, for the servers that set up
                               logging themselves: uvicorn (log_config=), faust (the worker's
                               logging_config=), so their records look like everyone's
    context(case_id, event_id) the case and event being handled (a consumer sets it around
                               one event; contextvars: safe across threads and tasks)

The trace id is the current OpenTelemetry span's (services/common/tracing.py), when there is
one. kafka-python and aiokafka log every connection and metadata refresh at INFO (a dozen
lines a minute from the checkpointer alone): they are kept at WARNING.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from services.common.settings import Settings

CASE_ID: ContextVar[str | None] = ContextVar("shouwen_case_id", default=None)
EVENT_ID: ContextVar[str | None] = ContextVar("shouwen_event_id", default=None)
QUIET = ("kafka", "aiokafka")  # INFO chatter: kept at WARNING
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


@contextmanager
def context(case_id: str | None = None, event_id: str | None = None) -> Iterator[None]:
    tokens = (CASE_ID.set(case_id), EVENT_ID.set(event_id))
    try:
        yield
    finally:
        EVENT_ID.reset(tokens[1])
        CASE_ID.reset(tokens[0])


def _trace_ids() -> tuple[str | None, str | None]:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - a dependency; kept optional here
        return None, None
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return None, None
    return format(span.trace_id, "032x"), format(span.span_id, "016x")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """To whatever sys.stderr is when a record is written, not when logging was set up: a
    stream replaced since (a test's capture, a CLI runner's) is never written after close."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class ContextFilter(logging.Filter):
    """Adds case_id, event_id, trace_id, span_id (when set) to every record, and ``context``:
    the same as text (`` case=... event=... trace=...``) for the text format."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace_id, span_id = _trace_ids()
        found = {"case_id": CASE_ID.get(), "event_id": EVENT_ID.get(),
                 "trace_id": trace_id, "span_id": span_id}
        words = []
        for name, value in found.items():
            if value is not None:
                setattr(record, name, value)
                if name != "span_id":
                    words.append(f"{name.removesuffix('_id')}={value}")
        record.context = f" [{' '.join(words)}]" if words else ""
        return True


def dict_config(settings: Settings | None = None) -> dict[str, Any]:
    s = settings if settings is not None else Settings()
    level = s.log_level.upper()
    formatter: dict[str, Any] = {"format": TEXT}
    if s.log_format == "json":
        from pythonjsonlogger.core import RESERVED_ATTRS

        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            # not fields: the text form of the context, uvicorn's coloured copy
            "reserved_attrs": [*RESERVED_ATTRS, "taskName", "context", "color_message"],
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "services.common.logs.ContextFilter"}},
        "formatters": {"shouwen": formatter},
        "handlers": {"stderr": {"class": "services.common.logs.StderrHandler",
                                "filters": ["context"], "formatter": "shouwen"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            **{name: {"level": "WARNING"} for name in QUIET},
            # uvicorn's own loggers: no handlers of their own, through the root's
            **{name: {"level": level, "handlers": [], "propagate": True}
               for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
        },
    }


def configure(settings: Settings | None = None) -> None:
    logging.config.dictConfig(dict_config(settings))



def setup_logging() -> None:
    """Every entry point's one call: configure() on the environment's settings."""
    from services.common.settings import get_settings

    configure(get_settings())
