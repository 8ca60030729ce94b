"""What the case's people were told, and when: the outcome of each notification.

    notification_sent     a message went out (or into a staff in-app inbox), with the text
                          as rendered, so a replay shows exactly what the inquirer was told
    notification_failed   retries were exhausted (or the message could not be built); it went
                          to the dead-letter topic

One notification is keyed by (source event id, recipient, channel): at most one ``sent``
per key, ever. Addresses and message texts are personal data (masked in logs).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from events.fields import Id, PersonalMessage, PersonalText, ShortText, Text
from events.registry import EventPayload, register


class RecipientKind(StrEnum):
    inquirer = "inquirer"
    staff = "staff"
    leader = "leader"


class NotifyChannel(StrEnum):
    email = "email"
    sms = "sms"
    webhook = "webhook"
    in_app = "in_app"  # the staff member's inbox in the console


Language = Annotated[str, Field(max_length=5, pattern=r"^(zh-CN|en)$")]


class _Notification(EventPayload):
    source_event_id: Annotated[str, Field(min_length=1, max_length=64)]
    recipient_kind: RecipientKind
    recipient_id: Id | None = None  # staff / leader id; None for the inquirer
    channel: NotifyChannel
    address: PersonalText | None = None  # the email, phone or URL it went to (None: in-app)
    template: ShortText  # e.g. "inquirer/receipt"
    language: Language
    attempts: Annotated[int, Field(ge=1, le=100)]


@register
class NotificationSent(_Notification):
    """A message was delivered to its channel (the SMTP server, SMS gateway, ...)."""

    event_type = "shouwen.case.notification_sent.v1"

    subject: PersonalMessage | None = None
    message: PersonalMessage
    provider_id: ShortText | None = None  # the gateway's message id, when it gives one
    uncertain: bool = False  # sent before a crash that lost the mark: may have gone twice


@register
class NotificationFailed(_Notification):
    """A message could not be delivered; retries exhausted or the message could not be
    built. It was dead-lettered."""

    event_type = "shouwen.case.notification_failed.v1"

    reason: Text
    dead_lettered: bool = True
