"""Development servers that keep what they receive: ``shouwen mail-server``.

    MailStore       an aiosmtpd handler: every message it accepts is a file
                    <sha256(Message-ID)>.eml in its directory; a message whose Message-ID
                    it holds already is acknowledged (250) and NOT stored again (counted
                    as a duplicate). The sender's Message-ID is stable per delivery, so a
                    repeat after a crash never makes a second copy.
    SmsGateway      an HTTP/1.1 server: POST /sms {to, text, ...} with Idempotency-Key;
                    stores <sha256(key)>.json and answers {"id": ...}; a repeated key gets
                    the first answer again and stores nothing. Connections are kept alive
                    (as a real gateway's are): one per sender, not one per message.
    serve(...)      both, until SIGINT/SIGTERM

Counters (received, duplicates) let tests tell "received twice" from "stored twice".
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from collections import Counter
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class MailStore:
    """aiosmtpd handler storing each message once per Message-ID."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.received = 0
        self.duplicates = 0
        self.per_id: Counter[str] = Counter()  # Message-ID -> deliveries received
        self.first_at: float | None = None  # time.monotonic() of the first and last arrival
        self.last_at: float | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        message_id = (BytesHeaderParser().parsebytes(raw).get("Message-ID") or "").strip()
        name = _digest(message_id or raw.decode(errors="replace")) + ".eml"
        with self.lock:
            self.received += 1
            self.per_id[message_id] += 1
            self.last_at = time.monotonic()
            self.first_at = self.first_at or self.last_at
            path = self.directory / name
            if message_id and path.exists():
                self.duplicates += 1
                return "250 OK: already delivered (same Message-ID), not stored again"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(raw)
            tmp.replace(path)  # whole files only, even if the server dies mid-write
        return "250 OK: stored"

    def stored(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml"))


def mail_server(directory: Path, port: int, host: str = "127.0.0.1") -> tuple[Controller,
                                                                              MailStore]:
    store = MailStore(directory)
    controller = Controller(store, hostname=host, port=port)
    controller.start()
    return controller, store


class SmsGateway(ThreadingHTTPServer):
    def __init__(self, directory: Path, port: int, host: str = "127.0.0.1") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.received = 0
        self.connections = 0  # TCP connections accepted (keep-alive: few)
        super().__init__((host, port), _SmsHandler)


class _SmsHandler(BaseHTTPRequestHandler):
    server: SmsGateway
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries its Content-Length
    # One answer, one segment: the status line, headers and body are buffered and sent by
    # handle_one_request's flush, with Nagle off. Written unbuffered (http.server's default)
    # the body went as a second small segment that Nagle held back until the client's
    # delayed ACK (~40 ms on Linux), so every SMS took ~40 ms and four sender threads
    # could not send more than ~100 a second.
    wbufsize = -1
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_POST(self) -> None:  # noqa: N802 (the http.server convention)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers.get("Idempotency-Key") or _digest(body.decode(errors="replace"))
        path = self.server.directory / f"{_digest(key)}.json"
        with self.server.lock:
            self.server.received += 1
            if not path.exists():
                path.write_bytes(body)
        answer = json.dumps({"id": f"sms-{_digest(key)[:16]}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request line carries nothing useful; the stored files are the record


def serve(mail_dir: Path, mail_port: int, sms_dir: Path | None, sms_port: int) -> None:
    controller, _ = mail_server(mail_dir, mail_port)
    gateway = SmsGateway(sms_dir, sms_port) if sms_dir is not None else None
    if gateway is not None:
        threading.Thread(target=gateway.serve_forever, daemon=True).start()
    print(f"mail server on 127.0.0.1:{mail_port}, messages in {mail_dir}", flush=True)
    if gateway is not None:
        print(f"SMS gateway on http://127.0.0.1:{sms_port}/sms, messages in {sms_dir}",
              flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    controller.stop()
    if gateway is not None:
        gateway.shutdown()
