"""The channels a message goes out by (the I/O edge of the sender).

    Outgoing(key, address, subject, body)   one rendered message of one delivery record
        .message_id       <sha256(key)@shouwen.notification>: the same for every attempt
        .idempotency_key  sha256(key) hex: the same for every attempt
    SmtpChannel.send      over ONE kept-open SMTP connection per sender (across rounds);
                          one idle longer than idle_check seconds is checked with NOOP
                          first and reopened if the server dropped it (before the message
                          goes: never a resend); a failure mid-send closes it, the attempt
                          fails and is retried (the next attempt opens a new connection);
                          the stable Message-ID lets the receiving side drop a repeat
    HttpChannel.send      POST JSON {to, subject, text, key} with Idempotency-Key (the
                          gateway deduplicates on it), over ONE keep-alive httpx.Client per
                          sender (it reconnects by itself); the webhook's body is signed:
                          X-Shouwen-Signature: sha256=HMAC(secret, body)
    in-app                no channel object: the inbox row is written in the same
                          transaction as the 'sent' mark (services.notification.sender)

Any failure raises SendError (or the library's own error); the sender retries with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import time
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Protocol

import httpx
import orjson


class SendError(Exception):
    pass


@dataclass(frozen=True)
class Outgoing:
    key: str  # "<source event id>/<recipient>/<channel>"
    address: str
    subject: str
    body: str

    @property
    def idempotency_key(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()

    @property
    def message_id(self) -> str:
        return f"<{self.idempotency_key[:40]}@shouwen.notification>"


class Channel(Protocol):
    def send(self, out: Outgoing) -> str | None: ...  # the provider's id, if any

    def close(self) -> None: ...


def compose(sender: str, out: Outgoing) -> Message:
    """The e-mail of ``out``: text/plain in UTF-8 (base64), the subject as an RFC 2047
    encoded word, the stable Message-ID. Built with the ``compat32`` classes (MIMEText),
    which cost about a third of ``EmailMessage`` with the default policy per message (its
    header registry parses every header back); an address outside ASCII needs SMTPUTF8,
    which smtplib only offers for ``EmailMessage``: those take that path. A header value
    with a line break is refused (ValueError, as the default policy refuses it): never a
    header smuggled in through a subject."""
    if any(c in value for value in (sender, out.address, out.subject) for c in "\r\n"):
        raise ValueError("header values may not contain line breaks")
    if not (sender.isascii() and out.address.isascii()):
        modern = EmailMessage()
        modern["From"], modern["To"], modern["Subject"] = sender, out.address, out.subject
        modern["Message-ID"], modern["Date"] = out.message_id, formatdate(usegmt=True)
        modern.set_content(out.body)
        return modern
    msg = MIMEText(out.body, "plain", "utf-8")
    msg["From"], msg["To"] = sender, out.address
    plain = out.subject.isascii() and len(out.subject) <= 60  # else RFC 2047 words, folded
    msg["Subject"] = (out.subject if plain else
                      Header(out.subject, "utf-8", header_name="Subject").encode())
    msg["Message-ID"], msg["Date"] = out.message_id, formatdate(usegmt=True)
    return msg


class SmtpChannel:
    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0,
                 idle_check: float = 30.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.idle_check = idle_check  # a connection idle longer is NOOP-checked before use
        self._smtp: smtplib.SMTP | None = None
        self._used_at = 0.0  # time.monotonic() of the connection's last successful use
        self.connections = 0  # opened so far (one per sender while the server keeps it)

    def send(self, out: Outgoing) -> str | None:
        msg = compose(self.sender, out)
        try:
            self._connection().send_message(msg)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()  # the next attempt opens a new connection
            raise
        self._used_at = time.monotonic()
        return out.message_id

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None and time.monotonic() - self._used_at >= self.idle_check:
            try:  # servers drop idle clients (RFC 5321: after 5 min or more): check first
                code, _ = self._smtp.noop()
            except (smtplib.SMTPException, OSError):
                code = 0
            if code != 250:
                self.close()
        if self._smtp is None:
            self._smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            self.connections += 1
        return self._smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


class HttpChannel:
    """An SMS gateway or a webhook: one POST per message, keyed for deduplication."""

    def __init__(self, url: str, *, api_key: str | None = None, secret: str | None = None,
                 timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url, self.api_key, self.secret = url, api_key, secret
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def send(self, out: Outgoing) -> str | None:
        body = orjson.dumps({"to": out.address, "subject": out.subject, "text": out.body,
                             "key": out.idempotency_key})
        headers = {"Content-Type": "application/json", "Idempotency-Key": out.idempotency_key}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Shouwen-Signature"] = f"sha256={digest}"
        response = self.client.post(self.url, content=body, headers=headers)
        if response.status_code >= 300:
            raise SendError(f"gateway answered HTTP {response.status_code}")
        try:
            provider = orjson.loads(response.content).get("id")
        except (orjson.JSONDecodeError, AttributeError):
            provider = None
        return str(provider)[:200] if provider else None

    def close(self) -> None:
        self.client.close()
