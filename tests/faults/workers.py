"""Real service processes for the fault tests: ``shouwen <command>`` with the test's
environment, output in a log file; and a relay thread that publishes the store."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from services.common.settings import Settings
from services.relay.relay import run as run_relay
from tests.processes import LoggedProcess

SHOUWEN = str(Path(sys.executable).parent / "shouwen")


class Service(LoggedProcess):
    """``shouwen <command>`` with the test's environment, output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        super().__init__([SHOUWEN, *args], env, log_path)


@contextmanager
def relay_running(settings: Settings) -> Iterator[None]:
    stop = threading.Event()
    quiet = settings.model_copy(update={"relay_metrics_port": 0})
    thread = threading.Thread(target=run_relay, args=(quiet,), kwargs={"stop": stop})
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def wait_for(check: Callable[[], object], what: str, timeout: float = 60.0,
             *services: Service) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for s in services:
            if s.proc.poll() is not None:
                raise AssertionError(f"{what}: a service exited ({s.proc.returncode}):\n{s.log()}")
        time.sleep(0.2)
    logs = "\n".join(s.log() for s in services)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")
