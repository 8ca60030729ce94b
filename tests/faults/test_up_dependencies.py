"""`shouwen up` with its embedded PostgreSQL and broker killed under it (kill -9): each is
started again with a line when it is back, and the suite goes on: an inquiry registered
through intake after each comes back reaches the topic through the relay, and the history
is back on the emptied broker."""

from __future__ import annotations

import os
import signal
import subprocess

import httpx
import psutil
import pytest

from tests.e2e.test_up import (  # noqa: F401 (fixtures)
    SHOUWEN,
    Up,
    read_all_events,
    start_up,
    wait_http,
    workdir,
)
from tests.integration.intake_helpers import WALK_IN

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.timeout(300)]


def register(up: Up) -> str:
    """An inquiry through up's intake, as a window clerk registers one; its case id."""
    token = subprocess.run([SHOUWEN, "token", "--staff", "ZX005"], env=up.env, cwd=up.data_dir,
                           capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    r = httpx.post(f"http://127.0.0.1:{up.intake_port}/v1/cases", json=WALK_IN, timeout=30,
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    return str(r.json()["case_id"])


def seen(bootstrap: str, case_id: str) -> bool:
    try:
        return case_id in {e.subject for e in read_all_events(bootstrap, idle=2.0)}
    except RuntimeError:  # the restarted broker has no topic until the relay makes it again
        return False


def test_up_restarts_its_killed_postgres_and_broker_and_the_suite_goes_on(
    start_up, workdir  # noqa: F811 (fixtures)
):
    up = start_up(workdir / "data")
    up.database_url()
    up.wait_for(r"^relay\s+\| .*publishing to shouwen\.case-events")
    wait_http(f"http://127.0.0.1:{up.intake_port}/readyz", timeout=90)
    before = register(up)

    tansu = next(p for p in up.descendants() if "tansu" in " ".join(p.cmdline()).lower())
    tansu.kill()
    up.wait_for(r"^up\s+\| broker died", timeout=30)
    up.wait_for(r"^up\s+\| broker is back", timeout=60)
    after_broker = register(up)
    _eventually(lambda: seen(up.bootstrap, after_broker) and seen(up.bootstrap, before),
                "new and old events on the restarted broker")

    os.kill(up.postmaster_pid(), signal.SIGKILL)
    up.wait_for(r"^up\s+\| postgres died", timeout=30)
    up.wait_for(r"^up\s+\| postgres is back", timeout=120)
    wait_http(f"http://127.0.0.1:{up.intake_port}/readyz", timeout=90)
    after_postgres = register(up)
    _eventually(lambda: seen(up.bootstrap, after_postgres), "an event after PostgreSQL's return")

    status, _ = up.interrupt(timeout=30)
    assert status == 0, up.output()
    assert not psutil.pid_exists(tansu.pid) or tansu.status() == psutil.STATUS_ZOMBIE


def _eventually(check, what: str, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.5)
