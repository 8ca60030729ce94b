"""The hostile corpus against the whole suite under ``shouwen up`` (issue 18's "done when"),
through the operator's tool ``python -m tests.hostile.live``: every operation of intake's and
the ledger's OpenAPI documents, Open311 with a real API key, the console and the dashboard.
Zero 5xx, nothing written by the probes, then the relay has published every stored event
(store count == topic count) and ``shouwen verify`` passes."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_up import Up, workdir  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def up(workdir: Path) -> Iterator[Up]:  # noqa: F811 (the fixture imported above)
    stack = Up(workdir, workdir / "data", SHOUWEN_PUBLIC_RATE_LIMIT_PER_MINUTE="0")
    yield stack
    stack.kill_everything()


def test_a_hostile_run_against_shouwen_up_gets_no_5xx_and_the_relay_catches_up(up: Up):
    up.wait_for(r"ready: all \d+ services are up", timeout=120)
    done = subprocess.run([sys.executable, "-m", "tests.hostile.live", "--data-dir",
                           str(up.data_dir)], env=up.env, cwd=ROOT, capture_output=True,
                          text=True, timeout=200, check=False)
    summary = done.stdout + done.stderr
    assert done.returncode == 0, summary + "\n" + up.output()
    probes = int(re.search(r"probes\s+(\d+)", summary).group(1))  # type: ignore[union-attr]
    assert probes > 4000, summary
    assert re.search(r"5xx\s+0\n", summary), summary
    events, topic = re.search(r"relay\s+(\d+) events in the store, (\d+) on", summary).groups()  # type: ignore[union-attr]
    assert int(events) == int(topic) > 0, summary
    assert "verify        OK" in summary, summary
