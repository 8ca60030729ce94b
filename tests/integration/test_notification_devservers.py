"""``shouwen mail-server``: the development SMTP server and SMS gateway as a process, and the
commands' bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.common import embedded
from services.notification.channels import HttpChannel, Outgoing, SmtpChannel

SHOUWEN = str(Path(sys.executable).parent / "shouwen")


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while not embedded.port_open("127.0.0.1", port):
        assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)


def test_the_dev_servers_keep_each_message_once(tmp_path):
    mail_port, sms_port = embedded.free_port(), embedded.free_port()
    proc = subprocess.Popen([SHOUWEN, "mail-server", "--dir", str(tmp_path / "mail"),
                             "--port", str(mail_port), "--sms-port", str(sms_port)])
    try:
        wait_port(mail_port, proc)
        wait_port(sms_port, proc)
        smtp = SmtpChannel("127.0.0.1", mail_port, "shouwen@localhost")
        once = Outgoing("e1/inquirer/email", "wang@example.cn", "回执", "您好")
        smtp.send(once)
        smtp.send(once)  # a resend after a crash: same Message-ID
        smtp.send(Outgoing("e2/inquirer/email", "wang@example.cn", "回执", "您好"))
        smtp.close()
        sms = HttpChannel(f"http://127.0.0.1:{sms_port}/sms")
        first = sms.send(Outgoing("e3/inquirer/sms", "13800000000", "", "您好"))
        again = sms.send(Outgoing("e3/inquirer/sms", "13800000000", "", "您好"))
        sms.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 2
    assert first == again and len(list((tmp_path / "sms").glob("*.json"))) == 1
    assert "Subject: =?utf-8?" in next((tmp_path / "mail").glob("*.eml")).read_text()


@pytest.mark.parametrize("argv, message", [
    (["mail-server", "--port", "70000"], "--port must be a port number"),
    (["notification"], "DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS must be set"),
])
def test_bad_input_exits_2_with_a_message(argv, message, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    r = subprocess.run([SHOUWEN, *argv], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and message in r.stderr, r.stderr
