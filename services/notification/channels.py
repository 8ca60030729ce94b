"""The channels a message goes out by (the I/O edge of the sender).

    Outgoing(key, address, subject, body)   one rendered message of one delivery record
        .message_id       <sha256(key)@shouwen.notification>: the same for every attempt
        .idempotency_key  sha256(key) hex: the same for every attempt
    SmtpChannel.send      over ONE kept-open SMTP connection (reconnects when it drops);
                          the stable Message-ID lets the receiving side drop a repeat
    HttpChannel.send      POST JSON {to, subject, text, key} with Idempotency-Key (the
                          gateway deduplicates on it); the webhook's body is signed:
                          X-Shouwen-Signature: sha256=HMAC(secret, body)
    in-app                no channel object: the inbox row is written in the same
                          transaction as the 'sent' mark (services.notification.sender)

Any failure raises SendError (or the library's own error); the sender retries with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
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


class SmtpChannel:
    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self._smtp: smtplib.SMTP | None = None

    def send(self, out: Outgoing) -> str | None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, out.address, out.subject
        msg["Message-ID"], msg["Date"] = out.message_id, formatdate(usegmt=True)
        msg.set_content(out.body)
        try:
            self._connection().send_message(msg)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()  # the next attempt opens a new connection
            raise
        return out.message_id

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
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
