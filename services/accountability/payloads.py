"""Each step's event payload, from the request body, the directory and the procedure.

    verify, proposal, investigate, extend, decide, deliver, review_request, review_decide,
    close   ->  BUILD[step](context, body) -> the payload

A reference to someone not in the directory, a non-leader named as the deciding or approving
leader, or a circumstance on the wrong side raises CommandRefused naming the field (422).
The violation number of each finding is counted here, never taken from the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from events import EventPayload
from events.accountability import (
    AccountabilityClosed,
    AccountabilityDecided,
    DecisionDelivered,
    InvestigationExtended,
    InvestigationStarted,
    PreliminaryVerified,
    ProposalWritten,
    Responsibility,
    ReviewDecided,
    ReviewOutcome,
    ReviewRequested,
)
from events.fields import LeaderRef, LeaderRole
from services.accountability import models as m
from services.accountability import sanctions, store
from services.accountability.chain import responsibility_chain
from services.accountability.procedure import ProcedureState
from services.directory.index import DirectoryIndex, Person
from services.directory.model import Role
from services.domain.errors import CommandRefused

Builder0 = Callable[[], EventPayload]
# the highest role decides what the leader is called in the event
LEADER_ROLES = ((Role.principal_leader, LeaderRole.principal_leader),
                (Role.supervising_leader, LeaderRole.supervising_leader),
                (Role.section_chief, LeaderRole.section_head))


@dataclass(frozen=True)
class Context:
    conn: psycopg.Connection
    directory: DirectoryIndex
    actor: Person
    state: ProcedureState
    today: date

    @property
    def pid(self) -> str:
        return self.state.procedure_id


def _known(d: DirectoryIndex, ids: list[str], field: str) -> list[str]:
    for i, staff_id in enumerate(ids):
        if d.person(staff_id) is None:
            raise CommandRefused(f"{field}.{i}: no staff member {staff_id!r} in the directory "
                                 "in force", field=field)
    return ids


def _leader(d: DirectoryIndex, staff_id: str, field: str) -> LeaderRef:
    person = d.person(staff_id)
    role = next((lr for r, lr in LEADER_ROLES if person and person.has(r)), None)
    if person is None or role is None:
        raise CommandRefused(f"{field}: {staff_id!r} is not a leader (section chief, "
                             "supervising or principal leader) in the directory", field=field)
    return LeaderRef(id=staff_id, role=role, name=person.staff.name)


def proposed(ctx: Context, *, lock: bool = True) -> list[Responsibility]:
    """The chain above the persons complained about, each with the proposed sanction."""
    chain = responsibility_chain(ctx.directory, list(ctx.state.against_staff_ids))
    items = [m.ResponsibilityIn(staff_id=link.staff_id, kind=link.kind) for link in chain]
    return findings(ctx, items, "responsibilities", lock=lock)


def findings(ctx: Context, items: list[m.ResponsibilityIn], field: str, *,
             lock: bool = True) -> list[Responsibility]:
    ids = _known(ctx.directory, [i.staff_id for i in items], field)
    if len(set(ids)) != len(ids):
        raise CommandRefused(f"{field}: each person once", field=field)
    for i, item in enumerate(items):
        why = sanctions.misplaced(item.mitigating, item.aggravating)
        if why:
            raise CommandRefused(f"{field}.{i}.{why}", field=field)
    prior = store.prior_violations(ctx.conn, ids, ctx.pid, lock=lock)
    out = []
    for i, item in enumerate(items):
        n = prior[item.staff_id] + 1
        why = item.sanction and sanctions.refused(n, item.sanction, item.mitigating,
                                                  item.aggravating, item.circumstances_note)
        if why:
            raise CommandRefused(f"{field}.{i}.{why}", field=field)
        person = ctx.directory.person(item.staff_id)
        out.append(Responsibility(
            staff_id=item.staff_id, name=person.staff.name if person else None, kind=item.kind,
            sanction=item.sanction or sanctions.propose(n, item.mitigating, item.aggravating),
            violation_number=n, mitigating=item.mitigating, aggravating=item.aggravating,
            circumstances_note=item.circumstances_note))
    return out


def verify(ctx: Context, b: m.Verify) -> EventPayload:
    return PreliminaryVerified(procedure_id=ctx.pid, findings=b.findings, proceed=b.proceed)


def proposal(ctx: Context, b: m.Proposal) -> EventPayload:
    return ProposalWritten(procedure_id=ctx.pid, proposal=b.proposal)


def investigate(ctx: Context, b: m.Investigate) -> EventPayload:
    return InvestigationStarted(
        procedure_id=ctx.pid,
        limit_working_days=(b.limit_working_days
                            or ctx.state.rules.policy.investigation_working_days),
        group_member_ids=_known(ctx.directory, b.group_member_ids, "group_member_ids"))


def extend(ctx: Context, b: m.Extend) -> EventPayload:
    return InvestigationExtended(
        procedure_id=ctx.pid, approver=_leader(ctx.directory, b.approver_id, "approver_id"),
        extra_working_days=(b.extra_working_days
                            or ctx.state.rules.policy.investigation_extension_working_days),
        reason=b.reason)


def decide(ctx: Context, b: m.Decide) -> EventPayload:
    leader = _leader(ctx.directory, b.decided_by_id, "decided_by_id")
    if not b.upheld and b.responsibilities:
        raise CommandRefused("responsibilities: a complaint not upheld sanctions no one",
                             field="responsibilities")
    found: list[Responsibility] = []
    if b.upheld:
        found = (proposed(ctx) if b.responsibilities is None
                 else findings(ctx, b.responsibilities, "responsibilities"))
        if not found:
            raise CommandRefused("responsibilities: an upheld complaint names who is "
                                 "responsible (none given, and no chain could be proposed)",
                                 field="responsibilities")
    return AccountabilityDecided(procedure_id=ctx.pid, decided_by=leader, upheld=b.upheld,
                                 responsibilities=found, reasoning=b.reasoning)


def deliver(ctx: Context, b: m.Deliver) -> EventPayload:
    if not b.rights_told:
        raise CommandRefused("rights_told: the persons concerned must be told their rights "
                             "(review within 15 days, then appeal) when the decision is "
                             "delivered", field="rights_told")
    named = [r["staff_id"] for r in ctx.state.responsibilities]
    to = b.delivered_to_ids or named or list(ctx.state.against_staff_ids)
    return DecisionDelivered(procedure_id=ctx.pid, rights_told=True,
                             delivered_to_ids=_known(ctx.directory, to, "delivered_to_ids"))


def review_request(ctx: Context, b: m.ReviewRequest) -> EventPayload:
    return ReviewRequested(procedure_id=ctx.pid, requested_by_id=ctx.actor.staff.id,
                           grounds=b.grounds)


def review_decide(ctx: Context, b: m.ReviewDecide) -> EventPayload:
    varied = b.outcome is ReviewOutcome.varied
    if varied != bool(b.varied_responsibilities):
        raise CommandRefused("varied_responsibilities: required when (and only when) the "
                             "outcome is 'varied'", field="varied_responsibilities")
    found = findings(ctx, b.varied_responsibilities, "varied_responsibilities") if varied else []
    return ReviewDecided(procedure_id=ctx.pid, outcome=b.outcome, reason=b.reason,
                         varied_responsibilities=found)


def close(ctx: Context, b: m.Close) -> EventPayload:
    return AccountabilityClosed(procedure_id=ctx.pid, note=b.note,
                                ground=ctx.state.closing_ground(b.withdraw, ctx.today))


BUILD: dict[str, Callable[[Context, Any], EventPayload]] = {
    "verify": verify, "proposal": proposal, "investigate": investigate, "extend": extend,
    "decide": decide, "deliver": deliver, "review_request": review_request,
    "review_decide": review_decide, "close": close,
}
MODELS: dict[str, type[m.Action]] = {
    "verify": m.Verify, "proposal": m.Proposal, "investigate": m.Investigate,
    "extend": m.Extend, "decide": m.Decide, "deliver": m.Deliver,
    "review_request": m.ReviewRequest, "review_decide": m.ReviewDecide, "close": m.Close,
}
