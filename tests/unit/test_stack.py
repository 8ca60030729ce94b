"""The supervisor of ``shouwen up`` on tiny real child processes (no broker, no database)."""

from __future__ import annotations

import io
import os
import sys
import time

from services.stack import Output, Service, Supervisor, masked


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_lines_carry_the_padded_service_name():
    out = io.StringIO()
    Output(out, ["relay", "deadline-watch"]).line("relay", "publishing")
    assert out.getvalue() == "relay          | publishing\n"


def test_prefixes_are_coloured_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Tty()
    Output(out, ["relay"]).line("relay", "x")
    assert out.getvalue().startswith("\033[36mrelay |\033[0m x")


def test_passwords_are_masked_in_urls_and_conninfo():
    assert masked("postgresql://app:s3cret@db:5432/shouwen") == "postgresql://app:***@db:5432/shouwen"
    assert masked("host=db password=s3cret dbname=x") == "host=db password=*** dbname=x"
    assert masked("postgresql://postgres:@/postgres?host=/tmp/x") == (
        "postgresql://postgres:@/postgres?host=/tmp/x"
    )


def test_a_dying_service_is_restarted_with_growing_backoff():
    out = io.StringIO()
    table = [Service("flaky", python("print('up and failing', flush=True); raise SystemExit(3)"))]
    supervisor = Supervisor(table, dict(os.environ), Output(out, ["flaky"]), first_backoff=0.1)
    supervisor.start_all()

    def restarted_twice() -> bool:
        supervisor.tick()
        return out.getvalue().count("started flaky") >= 3

    wait_until(restarted_twice)
    supervisor.stop_all(grace=2)
    text = out.getvalue()
    assert "flaky | up and failing" in text
    assert "flaky exited with status 3" in text
    delays = [line.rsplit("restarting in ", 1)[1] for line in text.splitlines()
              if "restarting in" in line]
    assert delays[:2] == ["0.1 s", "0.2 s"]


def test_stop_sends_sigterm_then_kills_a_service_that_ignores_it():
    out = io.StringIO()
    stubborn = python(
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('ready', flush=True); time.sleep(60)"
    )
    supervisor = Supervisor([Service("stubborn", stubborn)], dict(os.environ),
                            Output(out, ["stubborn"]))
    supervisor.start_all()
    wait_until(lambda: "stubborn | ready" in out.getvalue())
    started = time.monotonic()
    supervisor.stop_all(grace=1)
    assert time.monotonic() - started < 5
    assert "still running after 1 s: killing it" in out.getvalue()


def test_the_workers_metrics_ports_are_checked_handed_down_and_shown(monkeypatch):
    from services.common.settings import Settings
    from services.stack import layout, services

    monkeypatch.setenv("SHOUWEN_ROUTING_METRICS_PORT", "19102")
    monkeypatch.setenv("SHOUWEN_LEDGER_METRICS_PORT", "19107")
    at = layout(Settings())
    listening = {var: port for _, var, port in at.listeners()}
    assert listening["SHOUWEN_ROUTING_METRICS_PORT"] == 19102
    assert listening["SHOUWEN_LEDGER_METRICS_PORT"] == 19107
    env = at.env()
    assert (env["SHOUWEN_ROUTING_METRICS_PORT"], env["SHOUWEN_LEDGER_METRICS_PORT"]) == (
        "19102", "19107")
    ports = {s.name: s.metrics_port for s in services(Settings(), at)}
    assert (ports["routing"], ports["ledger-worker"]) == (19102, 19107)
