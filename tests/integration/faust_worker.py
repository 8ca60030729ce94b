"""A faust worker process running ``tests.integration.faust_app_fixture``, for the tests of
the faust base (test_consumer_faust.py) and of skipping unread types (test_consumer_skip.py)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.integration.faust_app_fixture import EFFECTS_DDL
from tests.processes import LoggedProcess


class Worker(LoggedProcess):
    """A faust worker process running the fixture app, its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__([sys.executable, "-m", "tests.integration.faust_app_fixture"], env,
                         log_path, tail=10**9)


def worker_env(database_url: str, env_for: dict[str, str], consumer: str, data_dir: Path,
               **extra: str) -> dict[str, str]:
    """The fixture app's environment (its effects table made first)."""
    with psycopg.connect(database_url) as conn:
        conn.execute(EFFECTS_DDL)
    return {**env_for, "SHOUWEN_TEST_CONSUMER": consumer, "SHOUWEN_DATA_DIR": str(data_dir),
            **extra}


def wait_for(check: Callable[[], bool], timeout: float, what: str, worker: Worker) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline or worker.proc.poll() is not None:
            pytest.fail(f"gave up waiting for {what}; worker log:\n{worker.log()[-4000:]}")
        time.sleep(0.2)
