"""One log format for every service (services/common/logs.py): text, or JSON lines with
SHOUWEN_LOG_FORMAT=json carrying the case id, event id and trace id in force; uvicorn's and
faust's records go through the same handler; kafka-python's INFO chatter is not logged."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from services.common import logs
from services.common.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


class Err:
    """What the handler configured during the test wrote to stderr (pytest's capture)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def getvalue(self) -> str:
        return self.capsys.readouterr().err


@pytest.fixture
def stderr(capsys: pytest.CaptureFixture[str]):
    yield Err(capsys)
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,
                               "root": {"level": "WARNING", "handlers": []}})


def lines(buffer: Err) -> list[str]:
    return [line for line in buffer.getvalue().splitlines() if line]


def test_json_lines_carry_the_case_event_and_trace(stderr: Err) -> None:
    logs.configure(Settings(log_format="json"))
    span = NonRecordingSpan(SpanContext(trace_id=0x0AF7651916CD43DD8448EB211C80319C,
                                        span_id=0xB7AD6B7169203331, is_remote=True,
                                        trace_flags=TraceFlags(1)))
    with logs.context(case_id="SW-2026-000001", event_id="0192-e"), trace.use_span(span):
        logging.getLogger("services.routing").info("routed %s", "it")
    logging.getLogger("services.relay").warning("no case here")
    first, second = (json.loads(line) for line in lines(stderr))
    assert first["message"] == "routed it" and first["level"] == "INFO"
    assert first["logger"] == "services.routing" and first["time"]
    assert first["case_id"] == "SW-2026-000001" and first["event_id"] == "0192-e"
    assert first["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert "case_id" not in second and "context" not in second


def test_text_lines_say_the_same(stderr: Err) -> None:
    logs.configure(Settings(log_format="text"))
    with logs.context(case_id="SW-1", event_id="e-1"):
        logging.getLogger("services.notification").error("failed")
    (line,) = lines(stderr)
    assert re.search(r" ERROR services\.notification: failed \[case=SW-1 event=e-1\]$", line)


def test_an_exception_is_one_json_record(stderr: Err) -> None:
    logs.configure(Settings(log_format="json"))
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("it broke")
    (line,) = lines(stderr)
    record = json.loads(line)
    assert "ValueError: boom" in record["exc_info"]


def test_kafka_info_chatter_is_kept_at_warning(stderr: Err) -> None:
    logs.configure(Settings())
    logging.getLogger("kafka.conn").info("<BrokerConnection ...>: connecting")
    logging.getLogger("aiokafka.consumer").info("Updating subscribed topics")
    logging.getLogger("kafka.client").warning("node down")
    assert [line.split(" ", 3)[-1] for line in lines(stderr)] == ["kafka.client: node down"]


def test_uvicorn_and_faust_use_the_same_configuration(stderr: Err,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from services.common.faust_base import make_app, worker_for

    monkeypatch.setenv("SHOUWEN_LOG_FORMAT", "json")
    uvicorn.Config("services.intake.main:app", log_config=logs.dict_config()).configure_logging()
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "10.0.0.1", "GET",
                                             "/v1/cases", "1.1", 200)
    (line,) = lines(stderr)
    assert json.loads(line)["logger"] == "uvicorn.access"
    app = make_app(Settings(KAFKA_BOOTSTRAP_SERVERS="k:9092", data_dir=Path("/tmp/x")), "t")
    assert worker_for(app).logging_config == logs.dict_config()


def test_every_entry_point_configures_logging_the_one_way() -> None:
    sources = {p: p.read_text() for p in (ROOT / "services").rglob("*.py")}
    assert not [p for p, text in sources.items() if "logging.basicConfig" in text]
    for path, text in sources.items():
        for call in re.findall(r"uvicorn\.run\((.*?)\)\n", text, flags=re.S):
            assert "log_config=dict_config(" in call, path


def test_a_real_process_logs_json(tmp_path: Path) -> None:
    """`shouwen relay --once` with an unreachable database: its retry warning, as JSON."""
    env = {"SHOUWEN_LOG_FORMAT": "json", "DATABASE_URL": "postgresql://x@127.0.0.1:9/x",
           "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "PATH": "/usr/bin:/bin",
           "SHOUWEN_RELAY_METRICS_PORT": "0", "HOME": str(tmp_path)}
    run = subprocess.run([str(Path(sys.executable).parent / "shouwen"), "relay", "--once"],
                         capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    records = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert records, run.stderr[-2000:]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
