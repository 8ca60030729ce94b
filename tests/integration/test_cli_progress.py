"""`verify` and `republish` report their progress batch by batch (a bar on a terminal), and
write nothing of it when their output is not one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.common.integrity import verify_store
from services.relay.relay import republish, run
from tests.integration.test_relay import quiet, store_events

SHOUWEN = str(Path(sys.executable).parent / "shouwen")


def test_verify_and_republish_count_every_event_as_progress(settings, env_for):
    url = str(settings.database_url)
    store_events(url, streams=3, per_stream=4)
    run(quiet(settings), once=True)
    done: list[int] = []
    report = verify_store(url, progress=done.append)
    assert report.ok and sum(done) == report.events_checked == 12
    sent: list[int] = []
    assert republish(quiet(settings), 1, progress=sent.append) == sum(sent) == 12
    from services.ledger.rebuild import rebuild_from_store

    folded: list[int] = []
    assert rebuild_from_store(url, progress=folded.append).events == sum(folded) >= 12

    piped = subprocess.run([SHOUWEN, "verify"], capture_output=True, text=True, timeout=60,
                           env=env_for)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b" not in piped.stderr + piped.stdout  # no bar, no escape codes in a log
