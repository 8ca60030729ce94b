"""Staff commands on a case, one per action of DOMAIN.md section 3; free of HTTP.

    register(...)  -> Receipt     the caller is the first responder
    accept, one_time_notice, materials_supplied, refer, accept_handoff, escalate,
    request_transfer, decide_transfer, request_extension, decide_extension,
    reply, complete, deliver, close  -> CaseState

Each command, inside the caller's transaction:

    load the stream ─▶ in the caller's scope?        no: CaseNotFound   (404, not 403)
      ─▶ expected_version still current?             no: WrongExpectedVersion (409)
         (none given and a background writer — routing, deadline-watch, notification —
         appended between our read and our append: all of it done again, up to
         CONFLICT_ATTEMPTS times, instead of a 409 the caller never asked for)
      ─▶ may this person do it?                      no: NotPermitted (403)
      ─▶ allowed in the case's status?               no: ActionNotAllowed (409)
      ─▶ brush-offs, directory references            bad: CommandRefused (422)
      ─▶ append exactly ONE event: actor staff:<id>, no causation (a person acted),
         correlation = the case's received event

The payloads are built in ``payloads``; who may do what is ``access``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
from pydantic import ValidationError

from events import CloudEvent, EventPayload, new_event
from services.calendar.book import CalendarBook
from services.calendar.cache import CalendarCache
from services.calendar.policy_store import policy_book
from services.calendar.store import load_book
from services.cases import access
from services.cases.access import Loaded as Loaded  # re-exported: the console's
from services.cases.access import load_visible as load_visible
from services.cases.repository import CaseRepository
from services.common.eventstore import WrongExpectedVersion
from services.directory.index import DirectoryIndex, Person
from services.domain.case import CaseState
from services.domain.errors import CommandRefused, NotPermitted
from services.domain.language import find_brush_off
from services.intake import models
from services.intake import payloads as p
from services.intake.register import Inquiry, Receipt, register_inquiry, register_inquiry_async

SOURCE = "urn:shouwen:intake"
CONFLICT_ATTEMPTS = 5
T = TypeVar("T")


def retrying(expected_version: int | None, attempt: Callable[[], T]) -> T:
    """``attempt()``, done again from its start (reload, re-check, re-append) when the
    stream moved under it and the caller gave no ``expected_version`` to hold it to."""
    for left in range(CONFLICT_ATTEMPTS - 1, -1, -1):
        try:
            return attempt()
        except WrongExpectedVersion:
            if expected_version is not None or left == 0:
                raise
    raise AssertionError("unreachable")


RECEIVED_MAX_AGE_DAYS = 30  # Settings.received_date_max_age_days
_SKEW = timedelta(minutes=5)  # a clock a little ahead is not "the future"


def register(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
             actor: Person, body: models.RegisterInquiry,
             max_age_days: int = RECEIVED_MAX_AGE_DAYS) -> Receipt:
    check_received_at(body, max_age_days)
    return register_inquiry(repo, conn, actor, Inquiry(**body.model_dump()), source=SOURCE)


async def register_async(repo: CaseRepository, conn: psycopg.AsyncConnection[Any],
                         actor: Person, body: models.RegisterInquiry,
                         max_age_days: int = RECEIVED_MAX_AGE_DAYS) -> Receipt:
    check_received_at(body, max_age_days)
    return await register_inquiry_async(repo, conn, actor, Inquiry(**body.model_dump()),
                                        source=SOURCE)


def check_received_at(body: models.RegisterInquiry, max_age_days: int,
                      now: datetime | None = None) -> None:
    """A received date lies in the past, at most ``max_age_days`` back (422 otherwise)."""
    at = body.received_at
    if at is None:
        return
    now = now or datetime.now(UTC)
    if at > now + _SKEW:
        raise CommandRefused("received_at: lies in the future", field="received_at")
    if at < now - timedelta(days=max_age_days):
        raise CommandRefused(f"received_at: more than {max_age_days} days ago (the limit, "
                             "SHOUWEN_RECEIVED_DATE_MAX_AGE_DAYS); migrate older cases with "
                             "`shouwen import`", field="received_at")


Build = Callable[[Loaded], EventPayload]
Permit = Callable[[Person, Loaded], bool]


def _general(person: Person, loaded: Loaded) -> bool:
    return access.may_act(person, loaded.state)


@dataclass(frozen=True)
class Spec:
    """One staff action on a case: its name (what the status must allow), the event's
    payload made from the loaded case, and who may do it."""

    action: str
    build: Build
    permit: Permit = _general


def _act(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
         actor: Person, case_id: str, action: str, body: models.Action, build: Build,
         permit: Permit = _general) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body, Spec(action, build, permit))


def act(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
        actor: Person, case_id: str, body: models.Action, spec: Spec) -> CaseState:
    """``spec`` inside the caller's transaction (see the module's docstring)."""
    def attempt() -> CaseState:
        loaded = load_visible(repo, conn, directory, actor, case_id)
        return repo.append(loaded.state, [decide(loaded, actor, case_id, body, spec)], conn)

    return retrying(body.expected_version, attempt)


def decide(loaded: Loaded, actor: Person, case_id: str, body: models.Action,
           spec: Spec) -> CloudEvent:
    """The one event ``spec`` appends to the loaded case, or why not (pure: no I/O)."""
    state = loaded.state
    if body.expected_version is not None and body.expected_version != state.version:
        raise WrongExpectedVersion(case_id, body.expected_version, state.version)
    if not spec.permit(actor, loaded):
        raise NotPermitted(f"{spec.action}: {actor.staff.name} ({actor.staff.id}) may not do "
                           f"this on case {state.receipt_number}")
    state.require(spec.action)
    _refuse_brush_offs(body)
    try:
        payload = spec.build(loaded)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CommandRefused(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return new_event(payload, subject=case_id, actor=f"staff:{actor.staff.id}",
                     source=SOURCE, correlationid=loaded.correlation)


def _refuse_brush_offs(body: models.Strict) -> None:
    for field, text in body.inquirer_texts().items():
        phrase = find_brush_off(text) if text else None
        if phrase:
            raise CommandRefused(
                f"{field}: contains the brush-off {phrase!r}. The first responder may never "
                "answer 'I don't know', 'not my business', 'not clear' or 'go find another "
                "department' (DOMAIN.md section 1): say what will be done, or exactly where "
                "to go and whom to ask.", field=field, phrase=phrase)


# -- each action's Spec (no I/O: shared by the JSON routes and the console) -------------
def accept_spec(directory: DirectoryIndex, actor: Person, body: models.Accept,
                book: CalendarBook) -> Spec:
    return Spec("accept", lambda lo: p.accepted(directory, actor, lo.state, body,
                                                book.for_unit(lo.state.unit_id)))


def one_time_notice_spec(directory: DirectoryIndex, actor: Person,
                         body: models.OneTimeNotice) -> Spec:
    return Spec("one_time_notice", lambda lo: p.notice(lo.state, body))


def materials_supplied_spec(directory: DirectoryIndex, actor: Person,
                            body: models.MaterialsSupplied) -> Spec:
    return Spec("materials_supplied", lambda lo: p.materials(body))


def refer_spec(directory: DirectoryIndex, actor: Person,
               body: models.ReferInternal | models.ReferExternal) -> Spec:
    if isinstance(body, models.ReferInternal):
        internal = body
        return Spec("refer_internal",
                    lambda lo: p.referred_internal(directory, actor, lo.state, internal))
    external = body
    return Spec("refer_external", lambda lo: p.referred_external(directory, external))


def accept_handoff_spec(directory: DirectoryIndex, actor: Person,
                        body: models.AcceptHandoff) -> Spec:
    return Spec("accept_handoff", lambda lo: p.handoff_accepted(actor, lo.state),
                lambda who, lo: access.may_take_handoff(who, lo.state))


def escalate_spec(directory: DirectoryIndex, actor: Person, body: models.Escalate) -> Spec:
    return Spec("escalate", lambda lo: p.escalated(directory, actor, lo.state, body))


def request_transfer_spec(directory: DirectoryIndex, actor: Person,
                          body: models.TransferRequest) -> Spec:
    return Spec("request_transfer", lambda lo: p.transfer_requested(directory, body))


def decide_transfer_spec(directory: DirectoryIndex, actor: Person,
                         body: models.TransferDecision) -> Spec:
    return Spec("decide_transfer", lambda lo: p.transfer_decided(directory, actor, lo.state, body),
                lambda who, lo: access.may_decide(who, lo, "decide_transfer", directory))


def reply_spec(directory: DirectoryIndex, actor: Person, body: models.Reply) -> Spec:
    return Spec("reply", lambda lo: p.replied(lo.state, body))


def complete_spec(directory: DirectoryIndex, actor: Person, body: models.Complete) -> Spec:
    return Spec("complete", lambda lo: p.completed(body))


def deliver_spec(directory: DirectoryIndex, actor: Person, body: models.Deliver) -> Spec:
    return Spec("deliver", lambda lo: p.delivered(lo.state, body))


def close_spec(directory: DirectoryIndex, actor: Person, body: models.Close) -> Spec:
    return Spec("close", lambda lo: p.closed(body))


# -- the commands, in the caller's transaction (the console; tests) -------------------------
def accept(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
           actor: Person, case_id: str, body: models.Accept,
           calendars: CalendarCache | None = None) -> CaseState:
    book = calendars.get(conn) if calendars is not None else load_book(conn)
    return act(repo, conn, directory, actor, case_id, body,
               accept_spec(directory, actor, body, book))


def one_time_notice(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
                    actor: Person, case_id: str, body: models.OneTimeNotice) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body,
               one_time_notice_spec(directory, actor, body))


def materials_supplied(repo: CaseRepository, conn: psycopg.Connection,
                       directory: DirectoryIndex, actor: Person, case_id: str,
                       body: models.MaterialsSupplied) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body,
               materials_supplied_spec(directory, actor, body))


def refer(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
          actor: Person, case_id: str, body: models.ReferInternal | models.ReferExternal
          ) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body, refer_spec(directory, actor, body))


def accept_handoff(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
                   actor: Person, case_id: str, body: models.AcceptHandoff) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body,
               accept_handoff_spec(directory, actor, body))


def escalate(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
             actor: Person, case_id: str, body: models.Escalate) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body,
               escalate_spec(directory, actor, body))


def request_transfer(repo: CaseRepository, conn: psycopg.Connection,
                     directory: DirectoryIndex, actor: Person, case_id: str,
                     body: models.TransferRequest) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body,
               request_transfer_spec(directory, actor, body))


def decide_transfer(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
                    actor: Person, case_id: str, body: models.TransferDecision) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body,
               decide_transfer_spec(directory, actor, body))


def request_extension(repo: CaseRepository, conn: psycopg.Connection,
                      directory: DirectoryIndex, actor: Person, case_id: str,
                      body: models.ExtensionRequest) -> CaseState:
    return _act(repo, conn, directory, actor, case_id, "request_extension", body,
                lambda lo: p.extension_requested(lo.state, body, _extension_bound(conn, lo)))


def decide_extension(repo: CaseRepository, conn: psycopg.Connection,
                     directory: DirectoryIndex, actor: Person, case_id: str,
                     body: models.ExtensionDecision) -> CaseState:
    def permit(who: Person, lo: Loaded) -> bool:
        return access.may_decide(who, lo, "decide_extension", directory)

    def build(lo: Loaded) -> EventPayload:
        asked = lo.last("extension_requested")
        return p.extension_decided(actor, lo.state, body, asked.data if asked else {},
                                   _extension_bound(conn, lo))

    return _act(repo, conn, directory, actor, case_id, "decide_extension", body, build, permit)


def reply(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
          actor: Person, case_id: str, body: models.Reply) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body, reply_spec(directory, actor, body))


def complete(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
             actor: Person, case_id: str, body: models.Complete) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body,
               complete_spec(directory, actor, body))


def deliver(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
            actor: Person, case_id: str, body: models.Deliver) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body, deliver_spec(directory, actor, body))


def close(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
          actor: Person, case_id: str, body: models.Close) -> CaseState:
    return act(repo, conn, directory, actor, case_id, body, close_spec(directory, actor, body))


def _extension_bound(conn: psycopg.Connection, lo: Loaded) -> p.ExtensionBound:
    """The unit's extension policy (the policy book in force, shared by the unit's time
    limits) applied to the case's original time limit."""
    share = policy_book(conn).for_unit(lo.state.unit_id).extension_share
    return p.ExtensionBound.of(lo.events, share)
