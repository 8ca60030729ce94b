"""Operator friction (issue 14, item 8), through the `shouwen` command itself.

    --version                     the installed distribution's version
    next to a running `up`        DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS found through
                                  SHOUWEN_DATA_DIR (up's stack.json, while up's pid lives)
    token --staff NOPE            exit 2: not in the directory in force
    republish without a broker    exit 2 with a message, no traceback
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def shouwen(*args: str, data_dir: Path | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
            and not k.startswith("SHOUWEN_")}
    if data_dir is not None:
        base["SHOUWEN_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=120)


def running_stack(data_dir: Path, url: str, pid: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "stack.json").write_text(json.dumps(
        {"pid": pid, "database_url": url, "kafka_bootstrap_servers": "127.0.0.1:1"}))


def test_version():
    r = shouwen("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"shouwen {version('shouwen')}"


def test_commands_find_the_running_stacks_database_through_the_data_dir(
        database_url, demo_directory, tmp_path):
    data = tmp_path / "data"
    running_stack(data, database_url, os.getpid())  # a live pid: this test's own
    r = shouwen("token", "--staff", "NOPE", data_dir=data)
    assert r.returncode == 2 and "'NOPE' is not in the directory in force" in r.stderr
    assert shouwen("token", "--staff", "ZX005", data_dir=data).returncode == 0
    r = shouwen("verify", data_dir=data)
    assert r.returncode == 0, r.stderr

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    running_stack(data, database_url, int(dead.stdout))  # up was killed: a stale file
    r = shouwen("verify", data_dir=data)
    assert r.returncode == 2 and "DATABASE_URL is not set" in r.stderr
    assert "SHOUWEN_DATA_DIR" in r.stderr
    r = shouwen("token", "--staff", "ZX005", data_dir=data)  # no directory to check against
    assert r.returncode == 2 and "SHOUWEN_DATA_DIR" in r.stderr and r.stdout == ""


def test_republish_without_a_broker_exits_2_with_a_message(database_url, tmp_path):
    r = shouwen("republish", "--from", "1", data_dir=tmp_path, DATABASE_URL=database_url)
    assert r.returncode == 2
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in r.stderr and "Traceback" not in r.stderr
