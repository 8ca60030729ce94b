"""``shouwen mail-server``: the development SMTP server and SMS gateway as a process, and the
commands' bad input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.common import embedded
from services.notification.channels import HttpChannel, Outgoing, SmtpChannel
from services.notification.devservers import SmsGateway, mail_server

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


def test_one_sender_keeps_one_connection_per_channel(tmp_path):
    """Five messages on each channel: one SMTP session and one HTTP connection, not five."""
    port = embedded.free_port()
    controller, mails = mail_server(tmp_path / "mail", port)
    gateway = SmsGateway(tmp_path / "sms", embedded.free_port())
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    smtp = SmtpChannel("127.0.0.1", port, "shouwen@localhost")
    sms = HttpChannel(f"http://127.0.0.1:{gateway.server_address[1]}/sms")
    try:
        for i in range(5):
            smtp.send(Outgoing(f"e{i}/inquirer/email", "wang@example.cn", "回执", "您好"))
            sms.send(Outgoing(f"e{i}/inquirer/sms", "13800000000", "", "您好"))
    finally:
        smtp.close()
        sms.close()
        controller.stop()
        gateway.shutdown()
    assert (mails.received, smtp.connections) == (5, 1)
    assert (gateway.received, gateway.connections) == (5, 1)


def test_a_dropped_smtp_connection_is_reopened_before_the_message_goes(tmp_path):
    """The server went away and came back between two rounds: the kept connection is
    found dead by NOOP and reopened; the message goes at its first attempt, once."""
    port = embedded.free_port()
    controller, _ = mail_server(tmp_path / "mail", port)
    smtp = SmtpChannel("127.0.0.1", port, "shouwen@localhost", idle_check=0)
    try:
        smtp.send(Outgoing("e1/inquirer/email", "wang@example.cn", "回执", "您好"))
        controller.stop()  # drops the kept connection
        controller, mails = mail_server(tmp_path / "mail", port)
        smtp.send(Outgoing("e2/inquirer/email", "wang@example.cn", "回执", "您好"))
    finally:
        smtp.close()
        controller.stop()
    assert (mails.received, mails.duplicates, smtp.connections) == (1, 0, 2)
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 2


def test_the_sms_gateway_answers_in_one_segment(tmp_path):
    """The status line, headers and body leave in one write. Written in two, the body waited
    for the client's delayed ACK (Nagle: ~40 ms on Linux), so every SMS took ~40 ms and the
    city day's drain waited on the development gateway, not on Shouwen. A client with Nagle
    off reads the whole answer in its first read only if it was sent as one segment."""
    gateway = SmsGateway(tmp_path / "sms", 0)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    try:
        body = b'{"to": "13800000000", "text": "ok"}'
        request = (b"POST /sms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Idempotency-Key: k-%d\r\nContent-Length: %d\r\n\r\n%s")
        with socket.create_connection(gateway.server_address[:2], timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(5):  # keep-alive: each answer on the same connection
                sock.sendall(request % (i, len(body), body))
                first = sock.recv(65536)
                head, _, rest = first.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                assert head.startswith(b"HTTP/1.1 200")
                assert len(rest) == length, f"answer {i}: the body came in a later segment"
    finally:
        gateway.shutdown()
        gateway.server_close()
    assert gateway.received == 5
