"""Rate limits, daily caps and the retry schedule (pure rules; the sender supplies counts).

    admit(channel, usage, limits, now) -> None (send now) | datetime (defer until then)
        in_app                      never limited (it costs nothing and floods no phone)
        recipient_last_hour >= per_recipient_per_hour
                                    defer until the oldest send of that hour is an hour old
        channel_today >= daily_cap  defer to the next day's midnight (Asia/Shanghai)
    retry_delay(attempt, first, max)   first * 2**(attempt-1), at most max (common Backoff)
    next_step(attempts, max_attempts)  "retry" | "give_up"

A deferred message is not lost nor counted as an attempt: it waits its turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from events.notification import NotifyChannel
from services.common.backoff import Backoff

LOCAL = ZoneInfo("Asia/Shanghai")  # a "day" of the daily cap is the city's day
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Limits:
    per_recipient_per_hour: int
    daily_cap: dict[NotifyChannel, int]


@dataclass(frozen=True)
class Usage:
    recipient_last_hour: int
    oldest_in_hour: datetime | None  # the oldest of those sends
    channel_today: int


def local_day(now: datetime) -> datetime:
    """Midnight (city time) starting the day ``now`` falls in."""
    d = now.astimezone(LOCAL).date()
    return datetime.combine(d, time(0), tzinfo=LOCAL)


def admit(channel: NotifyChannel, usage: Usage, limits: Limits, now: datetime) -> datetime | None:
    if channel is NotifyChannel.in_app:
        return None
    if usage.recipient_last_hour >= limits.per_recipient_per_hour:
        oldest = usage.oldest_in_hour or now
        return max(oldest + HOUR, now + timedelta(seconds=1))
    cap = limits.daily_cap.get(channel)
    if cap is not None and usage.channel_today >= cap:
        return local_day(now) + timedelta(days=1)
    return None


def retry_delay(attempt: int, first: float, maximum: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...)."""
    return Backoff(first_delay=first, max_delay=maximum).delay(attempt)


def gives_up(attempts: int, max_attempts: int) -> bool:
    return attempts >= max_attempts
