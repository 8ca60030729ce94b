"""deadline-watch's two writers, both on the case's own stream and the timer table.

    DeadlineWatch.handle_batch(conn, events)   the batch agent's handler, ONE transaction
      only events a clock rule reads, not its own ─▶ their cases' streams in one query
      ─▶ each case folded once (record.history) ─▶ every case's timers in one statement
      ─▶ the deadline_set / _breached / _met each stream lacks (record.record: what an
         on-time watch would have said, however late this one is) in one append_many
      ─▶ a case someone appended to meanwhile: refresh() on its own
    DeadlineWatch.handle(conn, event)   the one-message form (a failed batch is redone so)
      └─ refresh(conn, case_id): read the stream ─▶ the same fold ─▶ replace_timers
                                 ─▶ append what it lacks (expected version; a conflict
                                    reads again)
    DeadlineWatch.tick()                the timer loop's step, ONE transaction:
      claim_due (FOR UPDATE SKIP LOCKED) ─▶ read the claimed cases' streams ─▶ re-plan each:
      ├─ the timer is still planned with its id ─▶ fire ─▶ append_many (expected versions,
      │                                            event id = the timer's) ─▶ settle fired
      ├─ no one holds its ladder rung ──────────▶ settle skipped
      └─ not planned so any more (met, moved, paused; a new calendar or policy) ─▶ the
         case's timers re-planned from the stream (replace_timers) in the same transaction
      a case that changed meanwhile keeps its timers pending: the next tick sees it again
      a case whose re-plan or firing raises (poison: e.g. a date beyond the calendar) is
      undone alone (a savepoint), its claimed timers set aside as `failed` with the reason
      (metric, alert, ``shouwen deadline-watch failed``); the tick goes on with the others

Exactly once: two loops never claim one row (SKIP LOCKED); a timer's event id is
deterministic, so a crash between append and settle, or a rebuild, re-appends nothing; the
re-plan from the stream inside the transaction means an obligation met a moment ago is not
reported breached. ``now`` is a callable so tests drive the clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

import psycopg

from events import CloudEvent, new_event
from services.calendar.policy import UnitPolicy
from services.cases.repository import CaseRepository
from services.common.eventstore import WrongExpectedVersion, read_streams
from services.common.reads import Reads
from services.deadline_watch.calendar_port import Calendar
from services.deadline_watch.ladder import Leaders, step_of_kind
from services.deadline_watch.metrics import DeadlineMetrics
from services.deadline_watch.obligations import CaseClocks, fold_clocks, rule_reads, unit_of
from services.deadline_watch.record import history, record
from services.deadline_watch.store import (
    Due,
    claim_due,
    replace_timers,
    replace_timers_many,
    set_aside,
    settle,
)
from services.deadline_watch.timers import BREACH, WARN, Timer, fire, plan
from services.domain.case import CaseState, fold

log = logging.getLogger(__name__)

CONSUMER = "deadline-watch"
ACTOR = "service:deadline-watch"
SOURCE = "urn:shouwen:deadline-watch"
ATTEMPTS = 5
RulesOf = Callable[[psycopg.Connection, str | None], tuple[UnitPolicy, Calendar]]


def utc_now() -> datetime:
    return datetime.now(UTC)


# The types the consumer reads: those a clock rule reads; the rest is acked unopened
# (services/common/reads.py).
READS = Reads(rule_reads, "clock rules")


def _moves_a_clock(event: CloudEvent) -> bool:
    """Its own events change no clock, nor do the types no rule reads (notifications...)."""
    return event.actor != ACTOR and rule_reads(event.type)


class DeadlineWatch:
    def __init__(self, repo: CaseRepository, rules: RulesOf,
                 leaders: Callable[[], Leaders | None], *, metrics: DeadlineMetrics | None = None,
                 now: Callable[[], datetime] = utc_now, batch_size: int = 500) -> None:
        self.repo, self.rules, self.leaders, self.now = repo, rules, leaders, now
        self.metrics, self.batch_size = metrics, batch_size

    # -- the consumer ------------------------------------------------------------------
    def handle(self, conn: psycopg.Connection, event: CloudEvent) -> None:
        if _moves_a_clock(event):
            self.refresh(conn, event.subject)

    def handle_batch(self, conn: psycopg.Connection, events: list[CloudEvent]) -> None:
        """The batch agent's handler: every case the batch touches read in one query and
        folded once, all their timers in one statement, all announcements in one append;
        a case someone appended to meanwhile is refreshed on its own."""
        cases = sorted({e.subject for e in events if _moves_a_clock(e)})
        if not cases:
            return
        streams = read_streams(conn, cases)
        planned: dict[str, tuple[list[Timer], set[Any]]] = {}
        appends: list[tuple[CaseState, list[CloudEvent]]] = []
        for case_id in cases:
            stream = [r.event for r in streams.get(case_id, [])]
            if not stream:
                continue
            cc, timers, said = self._plan(conn, case_id, stream)
            planned[case_id] = (timers, cc.event_ids)
            if said:
                appends.append((fold(case_id, stream), said))
        replace_timers_many(conn, planned)
        result = self.repo.append_many(appends, conn) if appends else None
        if result is None:
            return
        for _, said in appends:
            if said[0].subject in result.states:
                self._count_provisional(said)
        for case_id in sorted(result.conflicts):
            self.refresh(conn, case_id)

    def refresh(self, conn: psycopg.Connection, case_id: str) -> CaseClocks | None:
        for _ in range(ATTEMPTS):
            events = [r.event for r in self.repo.store.read_stream(case_id, conn=conn)]
            if not events:
                return None
            cc, timers, appended = self._plan(conn, case_id, events)
            replace_timers(conn, case_id, timers, cc.event_ids)
            if not appended:
                return cc
            try:
                self.repo.append(fold(case_id, events), appended, conn)
            except WrongExpectedVersion:
                continue
            self._count_provisional(appended)
            return cc
        raise WrongExpectedVersion(case_id, -1, -1)

    def _plan(self, conn: psycopg.Connection, case_id: str, events: list[CloudEvent]
              ) -> tuple[CaseClocks, list[Timer], list[CloudEvent]]:
        """The case folded once: its clocks, their timers, and what the stream lacks."""
        policy, calendar = self.rules(conn, unit_of(events))
        cc, steps = history(case_id, events, policy, calendar)
        now = self.now()
        said = [new_event(p, subject=case_id, actor=ACTOR, source=SOURCE, id=eid, time=now)
                for eid, p in record(cc, steps)]
        return cc, plan(cc, policy, calendar), said

    def _clocks(self, conn: psycopg.Connection, case_id: str, events: list[CloudEvent]
                ) -> tuple[CaseClocks, UnitPolicy, Calendar]:
        policy, calendar = self.rules(conn, unit_of(events))
        return fold_clocks(case_id, events, policy, calendar), policy, calendar

    # -- the timer loop ----------------------------------------------------------------
    def tick(self) -> int:
        """Fire what is due now; returns how many timers were settled."""
        started, now = time.perf_counter(), self.now()
        with self.repo.pool.connection() as conn, conn.transaction():
            due = claim_due(conn, now, self.batch_size)
            if not due:
                return 0
            outcome = self._decide(conn, due, now)
            conflicts = set(self.repo.append_many(outcome.appends, conn).conflicts)
            fired = [d for d in outcome.fired if d.case_id not in conflicts]
            settle(conn, [d.key for d in fired], "fired", now)
            settle(conn, outcome.skipped, "skipped", now)
            set_aside(conn, outcome.failed, now)
        self._observe(fired, now, time.perf_counter() - started)
        if self.metrics is not None and outcome.failed:
            self.metrics.failed.inc(len(outcome.failed))
        return len(fired) + len(outcome.skipped) + outcome.replanned + len(outcome.failed)

    def _decide(self, conn: psycopg.Connection, due: list[Due], now: datetime) -> _Outcome:
        out = _Outcome()
        streams = read_streams(conn, [d.case_id for d in due])
        leaders = self.leaders()
        due.sort(key=lambda d: d.case_id)
        for case_id, group in groupby(due, key=lambda d: d.case_id):
            items = list(group)
            events = [r.event for r in streams.get(case_id, [])]
            case = _Outcome()
            try:
                with conn.transaction():  # a savepoint: a poisoned case undoes only itself
                    self._decide_case(conn, case_id, events, items, leaders, now, case)
            except psycopg.OperationalError:
                raise  # the database, not the case: the whole tick is retried
            except Exception as exc:  # noqa: BLE001 - any fault of one case is that case's
                log.exception("deadline-watch: timers of case %s set aside", case_id)
                out.failed.extend((d.key, _reason(exc)) for d in items)
                continue
            out.merge(case)
        return out

    def _decide_case(self, conn: psycopg.Connection, case_id: str, events: list[CloudEvent],
                     items: list[Due], leaders: Leaders | None, now: datetime,
                     out: _Outcome) -> None:
        cc, policy, calendar = self._clocks(conn, case_id, events)
        timers = plan(cc, policy, calendar)
        planned = {(t.obligation.value, t.kind): t for t in timers}
        new: list[CloudEvent] = []
        stale = False
        for d in items:
            timer = planned.get((d.obligation, d.kind))
            if timer is None or timer.event_id != d.event_id:
                stale = True
            elif timer.event_id in cc.event_ids:
                out.fired.append(d)  # appended before a crash; only the mark was lost
            elif (payload := fire(cc, timer, leaders)) is None:
                out.skipped.append(d.key)
            else:
                new.append(new_event(payload, subject=case_id, actor=ACTOR, source=SOURCE,
                                     id=timer.event_id, time=now))
                out.fired.append(d)
        if stale:  # the case moved on, or its calendar or policy changed: re-plan it
            replace_timers(conn, case_id, timers, cc.event_ids)
            out.replanned += 1
        if new:
            out.appends.append((fold(case_id, events), new))

    def _observe(self, fired: list[Due], now: datetime, seconds: float) -> None:
        m = self.metrics
        if m is None:
            return
        m.tick_seconds.observe(seconds)
        for d in fired:
            m.lateness.observe(max(0.0, (now - d.fire_at).total_seconds()))
            if d.kind == WARN:
                m.warnings.inc()
            elif d.kind == BREACH:
                m.breaches.inc()
            else:
                m.escalations.labels(step=str(step_of_kind(d.kind))).inc()

    def _count_provisional(self, appended: list[CloudEvent]) -> None:
        if self.metrics is not None:
            n = sum(1 for e in appended if e.data.get("provisional"))
            if n:
                self.metrics.provisional.inc(n)


class _Outcome:
    def __init__(self) -> None:
        self.appends: list[tuple[CaseState, list[CloudEvent]]] = []
        self.fired: list[Due] = []
        self.skipped: list[tuple[str, str, str]] = []
        self.replanned = 0  # cases whose claimed timers no longer matched their plan
        self.failed: list[tuple[tuple[str, str, str], str]] = []  # set aside, with the reason

    def merge(self, other: _Outcome) -> None:
        self.appends += other.appends
        self.fired += other.fired
        self.skipped += other.skipped
        self.replanned += other.replanned


def _reason(exc: BaseException) -> str:
    """What an admin reads in ``shouwen deadline-watch failed``: the error, bounded."""
    return f"{type(exc).__name__}: {exc}"[:500]
