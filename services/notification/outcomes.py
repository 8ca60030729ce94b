"""The end of one sending round, in ONE transaction: marks, inbox rows, events on the cases.

    sent        'sent' + (in-app: the staff_inbox row) + NotificationSent (the text as sent)
    given up    'failed' + NotificationFailed (it was dead-lettered just before)
    failed      'pending' again, next attempt after the backoff delay

One delivery never holds up the others: the round is tried as a whole in a savepoint;
if that fails (a case not in the store, say), each delivery is finished in a savepoint of
its own, and the one whose outcome cannot be recorded is rolled back alone and marked
pending again (a delivered message keeps its delivered mark: only recorded next time, never
sent twice) or, at its last attempt, failed and dead-lettered. ``finish`` returns the
deliveries given up; their ``dead_letters`` rows are written in this same transaction.
Each event's id is derived from the delivery key (uuid5), so it can never be appended
twice; a record whose lease ended and that another sender took over is left alone (the
'sending' + attempts check in store.finish). Cases that someone else appended to meanwhile
are appended again at their new head (the store's optimistic concurrency); nothing is
read or folded for it (CaseRepository.append_bookkeeping).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
import psycopg

from events import CloudEvent, new_event
from events.notification import NotificationFailed, NotificationSent, NotifyChannel
from services.cases.repository import CaseRepository
from services.common import deadletter_store
from services.common.backoff import TRANSIENT_DB
from services.common.deadletter import Delivery, describe_error
from services.notification import store
from services.notification.limits import gives_up, retry_delay
from services.notification.settings import NotifySettings

if TYPE_CHECKING:
    from services.notification.sender import Result

log = logging.getLogger(__name__)

SENDER = "notification-sender"  # dlq_consumer of what the sender gives up
SOURCE = "urn:shouwen:notification"
ACTOR = "service:notification"
MAX_MESSAGE = 4000
APPEND_TRIES = 20


def event_id(r: store.Record) -> UUID:
    return uuid5(NAMESPACE_URL, f"urn:shouwen:notification:{r.key}")


def sent_event(res: Result) -> CloudEvent:
    r, rendered = res.record, res.rendered
    assert rendered is not None
    payload = NotificationSent(
        source_event_id=str(r.source_event_id), recipient_kind=r.recipient_kind,
        recipient_id=r.recipient_id, channel=r.channel,
        address=None if r.channel is NotifyChannel.in_app else r.address,
        template=r.template, language=r.language, attempts=min(r.attempts, 100),
        subject=rendered.subject[:MAX_MESSAGE] or None,
        message=(rendered.body or rendered.subject or "-")[:MAX_MESSAGE],
        provider_id=(res.provider_id or None) and res.provider_id[:200], uncertain=r.uncertain)
    return _wrap(payload, r)


def failed_event(res: Result) -> CloudEvent:
    r = res.record
    payload = NotificationFailed(
        source_event_id=str(r.source_event_id), recipient_kind=r.recipient_kind,
        recipient_id=r.recipient_id, channel=r.channel, address=r.address or None,
        template=r.template, language=r.language, attempts=min(r.attempts, 100),
        reason=(res.error or "failed")[:MAX_MESSAGE])
    return _wrap(payload, r)


def _wrap(payload: NotificationSent | NotificationFailed, r: store.Record) -> CloudEvent:
    return new_event(payload, subject=r.case_id, actor=ACTOR, source=SOURCE,
                     causationid=r.source_event_id, correlationid=r.correlation_id,
                     id=event_id(r))


@dataclass(frozen=True)
class GivenUp:
    record: store.Record
    reason: str  # dlq_reason: notification-failed | notification-unrecordable
    error: str

    def delivery(self, topic: str) -> Delivery:
        """The dead letter: what was to be sent to whom, never the text or the address."""
        r = self.record
        value = orjson.dumps({"source_event_id": str(r.source_event_id), "case_id": r.case_id,
                              "recipient": r.recipient, "channel": r.channel.value,
                              "template": r.template, "attempts": r.attempts})
        return Delivery(topic, -1, -1, r.case_id.encode(), value)


def finish(conn: psycopg.Connection, repo: CaseRepository, results: Sequence[Result],
           s: NotifySettings, topic: str = "notification") -> list[GivenUp]:
    """Inside the caller's transaction; returns what was given up (already marked failed
    and kept in ``dead_letters``; the caller sends it to the topic after the commit)."""
    try:
        with conn.transaction():  # a savepoint: the whole round at once
            given_up = _finish(conn, repo, results, s)
    except TRANSIENT_DB:
        raise  # a deadlock, the database away: the caller finishes the same round again
    except Exception as exc:
        log.warning("notification: finishing a round of %d failed (%s); finishing them one "
                    "by one", len(results), type(exc).__name__)
        given_up = []
        for res in results:
            given_up += _finish_alone(conn, repo, res, s)
    for g in given_up:
        deadletter_store.record(conn, g.delivery(topic), consumer=SENDER, reason=g.reason,
                                error=g.error)
    return given_up


def _finish_alone(conn: psycopg.Connection, repo: CaseRepository, res: Result,
                  s: NotifySettings) -> list[GivenUp]:
    try:
        with conn.transaction():  # a savepoint per delivery
            return _finish(conn, repo, [res], s)
    except TRANSIENT_DB:
        raise
    except Exception as exc:
        r = res.record
        error = f"its outcome could not be recorded: {describe_error(exc)}"
        log.error("notification: the outcome of %s could not be recorded (%s)", r.key,
                  type(exc).__name__)
        if gives_up(r.attempts, s.max_attempts):
            store.finish(conn, r, "failed", error=error)
            return [GivenUp(r, "notification-unrecordable", error)]
        store.finish(conn, r, "pending", error=error, keep_delivered=True,
                     retry_in=retry_delay(r.attempts, s.retry_first_delay, s.retry_max_delay))
        return []


def _finish(conn: psycopg.Connection, repo: CaseRepository, results: Sequence[Result],
            s: NotifySettings) -> list[GivenUp]:
    """The marks of every record in ONE statement (store.finish_all), the in-app rows in
    one, then each case's events appended at once."""
    todo: list[store.Finish] = []
    for res in results:
        r = res.record
        if res.error is None:
            todo.append(store.Finish(r, "sent", provider_id=res.provider_id))
        elif gives_up(r.attempts, s.max_attempts):
            todo.append(store.Finish(r, "failed", error=res.error))
        else:
            todo.append(store.Finish(r, "pending", error=res.error, retry_in=retry_delay(
                r.attempts, s.retry_first_delay, s.retry_max_delay)))
    ours = store.finish_all(conn, todo)
    given_up: list[GivenUp] = []
    inbox: list[tuple[store.Record, str, str]] = []
    by_case: dict[str, list[CloudEvent]] = defaultdict(list)
    for res in results:  # in the round's order: each case's events as before
        r = res.record
        if r.key not in ours:
            continue  # taken over by another sender: its outcome is that sender's
        if res.error is None:
            if r.channel is NotifyChannel.in_app and res.rendered is not None:
                inbox.append((r, res.rendered.subject, res.rendered.body))
            by_case[r.case_id].append(sent_event(res))
        elif gives_up(r.attempts, s.max_attempts):
            by_case[r.case_id].append(failed_event(res))
            given_up.append(GivenUp(r, "notification-failed", res.error))
    store.put_all_in_inbox(conn, inbox)
    append(conn, repo, by_case)
    return given_up


def append(conn: psycopg.Connection, repo: CaseRepository,
           by_case: dict[str, list[CloudEvent]]) -> None:
    """Append each case's events at its stream's head (NotificationSent / NotificationFailed
    change no case state: nothing is read or folded); again for the ones that moved."""
    todo = dict(by_case)
    for _ in range(APPEND_TRIES):
        if not todo:
            return
        conflicts = repo.append_bookkeeping(todo, conn)
        todo = {c: todo[c] for c in conflicts}
    raise RuntimeError(f"cases {sorted(todo)} kept moving; the round is redone")
