"""The notification service's own settings (``SHOUWEN_NOTIFY_*``), beside the suite's.

    channels     SMTP host/port/sender; SMS gateway URL (+ API key); webhook URL (+ HMAC
                 secret); staff e-mail domain (the directory keeps phones, not e-mails)
    delivery     max_attempts, retry_first_delay .. retry_max_delay (exponential backoff),
                 batch_size, senders (threads), lease_seconds (how long ONE send may take
                 before its sender, though still connected, counts as hung: the last
                 resort; a dead sender's records are taken over at once)
    limits       rate_per_recipient_per_hour, daily caps per channel (SMS costs money)
    dev servers  mail_dir / mail_port, sms_dir / sms_port (``shouwen mail-server``)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWEN_NOTIFY_", env_file=".env",
                                      extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_sender: str = "shouwen@localhost"
    smtp_timeout: float = 10.0
    smtp_idle_check: float = 30.0  # a kept SMTP connection idle longer gets a NOOP first
    sms_gateway_url: str | None = "http://127.0.0.1:8026/sms"
    sms_api_key: str | None = None
    webhook_url: str | None = None  # leaders' messages also go here (e.g. a duty-room bot)
    webhook_secret: str | None = None  # signs the body: X-Shouwen-Signature: sha256=<hex>
    http_timeout: float = 10.0
    staff_email_domain: str | None = None  # staff e-mail: <staff id>@<domain>
    templates_dir: Path | None = None  # an operator's templates, overriding the shipped ones

    max_attempts: int = 5
    retry_first_delay: float = 2.0
    retry_max_delay: float = 300.0
    batch_size: int = 50
    senders: int = 4  # sender threads: an SMTP exchange mostly waits for the server
    lease_seconds: float = 120.0  # >> smtp_timeout, http_timeout: never a slow living send
    idle_poll_seconds: float = 0.1

    # Sized for a city's day (DOMAIN.md: ~59k inquiries a day, Shanghai's record ~80k):
    # each case sends its inquirer ~4 messages (receipt, referral, result, rating), by SMS
    # when no e-mail is given, plus staff and leaders' messages: ~300k SMS on a peak day.
    # A cap below the day's real volume defers receipts at once; it is a budget guard only.
    rate_per_recipient_per_hour: int = 20
    daily_cap_email: int = 500_000
    daily_cap_sms: int = 400_000
    daily_cap_webhook: int = 500_000
    digest_max: int = 200  # pending SMS told in one leader's digest (the rest: the next one)

    metrics_port: int = 9104
    mail_dir: Path = Path(".data/mail")
    mail_port: int = 8025
    sms_dir: Path = Path(".data/sms")
    sms_port: int = 8026


@lru_cache
def get_notify_settings() -> NotifySettings:
    return NotifySettings()
