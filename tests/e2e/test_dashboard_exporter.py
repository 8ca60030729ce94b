"""``shouwen dashboard exporter`` as a process: it serves the figures on its port, stops
cleanly on SIGTERM, and refuses to start (exit 2) without a database or a broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from services.common.embedded import free_port

SHOUWEN = [sys.executable, "-m", "services.cli"]


def test_the_exporter_serves_topic_ends_and_stops_on_sigterm(env_for, settings):
    port = free_port()
    env = {**env_for, "SHOUWEN_EXPORTER_PORT": str(port),
           "SHOUWEN_EXPORTER_INTERVAL_SECONDS": "0.5"}
    proc = subprocess.Popen([*SHOUWEN, "dashboard", "exporter"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wanted = (f'shouwen_topic_end_offset{{partition="0",topic="{settings.case_events_topic}"}}'
              " 0.0")
    text, deadline = "", time.monotonic() + 30
    try:
        while wanted not in text:
            assert proc.poll() is None and time.monotonic() < deadline, text
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                pass
            time.sleep(0.2)
        assert 'shouwen_exporter_errors_total{source="db"} 0.0' in text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_without_a_database_the_exporter_exits_2_with_a_message():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run([*SHOUWEN, "dashboard", "exporter"], env=env, capture_output=True,
                            text=True, timeout=60, cwd="/")
    assert result.returncode == 2 and "DATABASE_URL is not set" in result.stderr


def test_a_bad_port_setting_exits_2_naming_it(env_for):
    result = subprocess.run([*SHOUWEN, "dashboard", "exporter"], capture_output=True, text=True,
                            env={**env_for, "SHOUWEN_EXPORTER_PORT": "70000"}, timeout=60)
    assert result.returncode == 2 and "exporter_port" in result.stderr


def test_a_port_in_use_exits_2_naming_it(env_for):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*SHOUWEN, "dashboard", "exporter"], capture_output=True,
                                text=True, timeout=60,
                                env={**env_for, "SHOUWEN_EXPORTER_PORT": str(port)})
    assert result.returncode == 2 and f"SHOUWEN_EXPORTER_PORT {port}" in result.stderr
