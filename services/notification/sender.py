"""The sender loop: claim (commit) ─▶ render + send each ─▶ finish (one transaction).

    run_once()
      1. claim.claim             due records -> 'sending' by this sender, COMMIT (before
                                 anything is sent), on its SenderSession's connection
      2. per claimed record      render (StrictUndefined); mark started, send, mark
                                 delivered (services.notification.progress: one statement
                                 per e-mail, asynchronous commit; SMS and webhook, which
                                 carry an Idempotency-Key: one statement for the round's
                                 group before, one after); in-app sends nothing yet
      3. ONE transaction         mark sent / failed / pending-with-backoff, in-app inbox rows,
                                 NotificationSent / NotificationFailed on the case streams
                                 (services.notification.outcomes): the round in a savepoint,
                                 else each delivery in its own (one that cannot be recorded
                                 fails alone); given up: failed + its dead_letters row.
                                 A deadlock (another sender): the same round again at once
      4. given up (attempts >= max): the dead-letter topic's copy (acked)
    A crash between 2 and 4 leaves records 'sending' by a session that is gone; the next
    claim takes them over at once (resumed; a sender hung though connected loses them when
    their lease ends, and finds them taken at its next 'started' mark: not sent by it):
    delivered ones are only marked; the one in flight (started, not
    delivered) goes again, SMS and webhook with the same Idempotency-Key, e-mail with the
    same Message-ID, flagged uncertain and counted (the SMTP side may keep two copies).

Log lines name the delivery key (event id / recipient / channel) and the error's type:
never an address, a name or a message text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from kafka.errors import KafkaError

from events.notification import NotifyChannel
from events.personal import mask_text
from services.cases.repository import CaseRepository
from services.common.backoff import Backoff
from services.common.consumer import ConnectionSource
from services.common.deadletter import DeadLetters, describe_error
from services.notification import claim, outcomes, store
from services.notification.channels import Channel, Outgoing
from services.notification.limits import gives_up
from services.notification.metrics import NotifyMetrics
from services.notification.progress import Marks
from services.notification.render import Rendered, Renderer
from services.notification.session import SenderSession
from services.notification.settings import NotifySettings

log = logging.getLogger(__name__)

DEADLOCK_RETRIES = 5
DIGEST = "leader/digest"
# Transactions PostgreSQL aborted to break a cycle or a serialization conflict: redo at once.
ROLLED_BACK = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


@dataclass(frozen=True)
class Result:
    claimed: claim.Claimed
    rendered: Rendered | None = None
    provider_id: str | None = None
    error: str | None = None  # None: sent
    taken_over: bool = False  # another sender took it over before we sent it: not ours

    @property
    def record(self) -> store.Record:
        return self.claimed.record


class Sender:
    def __init__(self, s: NotifySettings, connection: ConnectionSource, repo: CaseRepository,
                 channels: dict[NotifyChannel, Channel], directory: claim.Directory,
                 metrics: NotifyMetrics, dead_letters: DeadLetters | None,
                 source_topic: str = "notification", renderer: Renderer | None = None,
                 progress: ConnectionSource | None = None,
                 session: SenderSession | None = None) -> None:
        self.s, self.connection, self.repo, self.channels = s, connection, repo, channels
        self.session = session  # None: claims carry no identity, only the lease guards them
        self.progress = progress or connection
        self.directory, self.metrics, self.dead_letters = directory, metrics, dead_letters
        self.source_topic = source_topic  # named in a dead letter's dlq_topic header
        self.renderer = renderer or Renderer(s.templates_dir)
        self.backoff = Backoff()

    def run(self, stop: threading.Event, idle: Callable[[], None] | None = None) -> None:
        while not stop.is_set():
            try:
                done = self.backoff.run(lambda: self.run_once(stop), what="notification: sending",
                                        stop=stop)
            except Exception:
                log.exception("notification: a sending round failed; trying again")
                done = 0
            if done == 0:
                (idle or (lambda: stop.wait(self.s.idle_poll_seconds)))()
        for channel in self.channels.values():
            channel.close()
        if self.session is not None:
            self.session.close()

    def run_once(self, stop: threading.Event | None = None) -> int:
        session = self.session or self.connection
        with session() as conn, conn.transaction():
            claimer = self.session.id if self.session is not None else None
            batch = claim.claim(conn, self.s, self.directory, claimer)
        for record in batch.deferred:
            self.metrics.outcomes.labels(record.channel.value, "deferred").inc()
        marks = Marks(self.progress, self.s.lease_seconds)
        todo = [c for c in batch.claimed if c.covered_by is None]
        keyed = [c for c in todo if _keyed(c)]
        done = self._send_keyed(keyed, marks)
        results = [done[c.record.key] if _keyed(c) else self._send(c, marks) for c in todo]
        marks.flush()
        results += _told_in_digests(batch.claimed, results)
        results = [res for res in results if not res.taken_over]
        given_up = self.backoff.run(lambda: self._finish(results),
                                    what="notification: finishing a round", stop=stop)
        for g in given_up:
            self._dead_letter(g, stop)
        self._count(results)
        return len(batch.claimed) + len(batch.deferred)

    def _finish(self, results: list[Result]) -> list[outcomes.GivenUp]:
        """The round's one transaction. A deadlock with another sender appending to the
        same cases rolls it back: finish the SAME round again at once (its records stay
        ours, 'sending'), not after the lease; other database failures back off (caller)."""
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                with self.connection() as conn, conn.transaction():
                    return outcomes.finish(conn, self.repo, results, self.s, self.source_topic)
            except ROLLED_BACK as exc:
                if attempt == DEADLOCK_RETRIES:
                    raise
                self.metrics.deadlocks.inc()
                log.warning("notification: finishing a round of %d met %s; again at once",
                            len(results), type(exc).__name__)
        raise AssertionError("unreachable")

    def _send(self, c: claim.Claimed, marks: Marks) -> Result:
        r = c.record
        self._note_resumed(c)
        try:
            if c.problem is not None:
                return Result(c, error=c.problem)
            rendered = self._render(c)
            if r.channel is NotifyChannel.in_app:
                return Result(c, rendered)  # written with the 'sent' mark
            if c.delivered:
                return Result(c, rendered, provider_id=r.provider_id)
            channel = self.channels.get(r.channel)
            if channel is None:
                return Result(c, rendered, error=f"channel {r.channel.value} is not configured")
            out = Outgoing(r.key, r.address or "", rendered.subject, rendered.body)
            if not marks.starting(r):
                log.warning("notification: %s was taken over by another sender; not sending it",
                            r.key)
                return Result(c, rendered, taken_over=True)
            provider_id = channel.send(out)
        except Exception as exc:
            return self._failed(c, exc)
        marks.delivered(r, provider_id)
        return Result(c, rendered, provider_id=provider_id)

    def _send_keyed(self, group: list[claim.Claimed], marks: Marks) -> dict[str, Result]:
        """The round's SMS and webhook messages: each carries an Idempotency-Key that the
        gateway deduplicates on, so the group is marked started in ONE statement before the
        first goes and delivered in ONE after the last (a crash in between: the group is
        sent again with the same keys, and the gateway drops the repeats)."""
        done: dict[str, Result] = {}
        ready: list[tuple[claim.Claimed, Rendered, Channel]] = []
        for c in group:
            r = c.record
            self._note_resumed(c)
            try:
                if c.problem is not None:
                    done[r.key] = Result(c, error=c.problem)
                    continue
                rendered = self._render(c)
                channel = self.channels.get(r.channel)
                if c.delivered:
                    done[r.key] = Result(c, rendered, provider_id=r.provider_id)
                elif channel is None:
                    done[r.key] = Result(c, rendered,
                                         error=f"channel {r.channel.value} is not configured")
                else:
                    ready.append((c, rendered, channel))
            except Exception as exc:
                done[r.key] = self._failed(c, exc)
        try:
            ours = marks.starting_all([c.record for c, _, _ in ready], self.s.http_timeout)
        except Exception as exc:
            return {**done, **{c.record.key: self._failed(c, exc) for c, _, _ in ready}}
        sent: list[tuple[store.Record, str | None]] = []
        for c, rendered, channel in ready:
            r = c.record
            if r.key not in ours:
                log.warning("notification: %s was taken over by another sender; not sending it",
                            r.key)
                done[r.key] = Result(c, rendered, taken_over=True)
                continue
            try:
                provider_id = channel.send(Outgoing(r.key, r.address or "", rendered.subject,
                                                    rendered.body))
            except Exception as exc:
                done[r.key] = self._failed(c, exc)
                continue
            sent.append((r, provider_id))
            done[r.key] = Result(c, rendered, provider_id=provider_id)
        marks.delivered_all(sent)
        return done

    def _note_resumed(self, c: claim.Claimed) -> None:
        r = c.record
        if c.resumed:
            self.metrics.resumed.labels(r.channel.value).inc()
            log.warning("notification: %s was claimed when its sender stopped; %s", r.key,
                        "it was delivered: marking it" if c.delivered else
                        "it may have gone out: sending it again, uncertain" if r.uncertain else
                        "sending it again (same idempotency key)")
        if r.uncertain and c.resumed and not c.delivered:
            self.metrics.uncertain.labels(r.channel.value).inc()

    def _render(self, c: claim.Claimed) -> Rendered:
        r = c.record
        context = {**r.context, "recipient": {"name": c.recipient_name or "",
                                              "id": r.recipient_id}}
        template = r.template
        if c.digest:  # a leader's pending SMS, told in one message
            template = DIGEST
            context["items"] = [{**m.context, "template": m.template} for m in c.digest]
        return self.renderer.render(template, r.language, context)

    def _failed(self, c: claim.Claimed, exc: Exception) -> Result:
        r = c.record
        text = describe_error(exc)
        if r.address:
            text = text.replace(r.address, mask_text(r.address))
        log.warning("notification: attempt %d of %s failed (%s)", r.attempts, r.key,
                    type(exc).__name__)
        return Result(c, error=text)

    def _dead_letter(self, given_up: outcomes.GivenUp, stop: threading.Event | None) -> None:
        """The topic's copy (the dead_letters row was written with the 'failed' mark)."""
        r = given_up.record
        self.metrics.dead_letters.labels(r.channel.value).inc()
        log.error("notification: %s given up after %d attempts (%s); dead-lettered", r.key,
                  r.attempts, given_up.reason)
        if self.dead_letters is None:
            return
        delivery, dead_letters = given_up.delivery(self.source_topic), self.dead_letters
        self.backoff.run(lambda: dead_letters.send(delivery, reason=given_up.reason,
                                                   error=given_up.error),
                         what=f"notification: dead-lettering {r.key}", transient=(KafkaError,),
                         stop=stop)

    def _count(self, results: list[Result]) -> None:
        for res in results:
            r = res.record
            outcome = "sent" if res.error is None else (
                "failed" if gives_up(r.attempts, self.s.max_attempts) else "retry")
            self.metrics.outcomes.labels(r.channel.value, outcome).inc()


def _keyed(c: claim.Claimed) -> bool:
    """Sent with an Idempotency-Key the gateway deduplicates on (SMS, webhook)."""
    return c.record.channel in (NotifyChannel.sms, NotifyChannel.webhook)


def _told_in_digests(claimed: list[claim.Claimed], sent: list[Result]) -> list[Result]:
    """Each record a digest told of shares the outcome of the message that told it."""
    by_key = {res.record.key: res for res in sent}
    out = []
    for c in claimed:
        carrier = by_key.get(c.covered_by) if c.covered_by is not None else None
        if carrier is not None:
            out.append(Result(c, carrier.rendered, carrier.provider_id, carrier.error,
                              carrier.taken_over))
    return out
