"""`shouwen dev postgres` / `shouwen dev broker` (the dependencies `shouwen up` starts and
watches with the same code, services/common/dependencies.py) killed with SIGKILL: each is
started again, says so, and answers again; PostgreSQL with its data."""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.common import bus, embedded
from tests.faults.workers import Service, wait_for

pytestmark = pytest.mark.fault


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="shouwen-dev-"))  # PostgreSQL's user must reach it
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_killed_postgres_is_started_again_with_its_data(data_dir, tmp_path):
    env = {**os.environ, "SHOUWEN_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    dev = Service(env, tmp_path / "postgres.log", "dev", "postgres")
    try:
        wait_for(lambda: "ready at" in dev.log(), "postgres ready", 120, dev)
        url = re.search(r"ready at (\S+)", dev.log()).group(1)  # type: ignore[union-attr]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        pid = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: "postgres is back" in dev.log(), "postgres back", 120, dev)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
        assert "postgres died" in dev.log()
    finally:
        assert dev.stop() == 0
    assert not (data_dir / "pg" / "postmaster.pid").exists()  # stopped with the command


def test_a_killed_broker_is_started_again(data_dir, tmp_path):
    port = embedded.free_port()
    env = {**os.environ, "SHOUWEN_DATA_DIR": str(data_dir), "SHOUWEN_BROKER_PORT": str(port)}
    dev = Service(env, tmp_path / "broker.log", "dev", "broker")
    try:
        wait_for(lambda: "ready at" in dev.log(), "broker ready", 60, dev)
        bootstrap = f"127.0.0.1:{port}"
        bus.ensure_topics(bootstrap, ["before"], partitions=1)
        broker_pid = next(p for p in _children(dev.proc.pid))
        os.kill(broker_pid, signal.SIGKILL)
        wait_for(lambda: "broker is back" in dev.log(), "broker back", 60, dev)
        bus.ensure_topics(bootstrap, ["after"], partitions=1)  # it answers again (empty)
        assert bus.topic_size(bootstrap, "after") == 0
    finally:
        assert dev.stop() == 0
    assert not embedded.port_open("127.0.0.1", port)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
