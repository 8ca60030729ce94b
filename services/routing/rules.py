"""Who handles a received case: the routing rules of DOMAIN.md section 3. Pure: no I/O.

    decide(state, classification, directory, open_counts) -> payloads to append, in order

    the case is not "received", or a person already acted on it ─▶ []  (routing stays out:
                                                                    the first responder leads)
    unclear, but a credible best guess (share >= SUGGEST_FROM) ─▶ matter_suggested: the top 3
                                   with their shares; the first responder picks one
    unclear, nothing credible ─▶ escalated to the next rung of the ladder
        section chief of the first responder's section ─▶ supervising leader (分管) ─▶
        principal leader; rungs already escalated to, off duty, or the first responder
        themselves are skipped (请示领导，协调解决)
    an external body's matter   ─▶ classified (external_body, its id) only: the first
                                   responder tells the inquirer where to go; never referred
                                   out automatically
    the first responder's own section's matter ─▶ classified (own_duties): theirs to handle
    another section, this unit  ─▶ classified (own_unit)  + referred to a named handler
    another unit                ─▶ classified (other_unit) + referred, ``unit_id`` set: the
                                   handler there must accept the handoff (intake does that)
    a complaint (category 投诉举报) ─▶ as above, plus escalated to the first responder's
                                   principal leader at once (reason "complaint")
    no one at all in the handling section ─▶ classified + escalated (reason "other")

The handler is ``choose_handler``: the section's on-duty staff with the fewest open cases,
leaders only when no one else is on duty, lowest id on a tie; when nobody is on duty, the
same choice among everyone there, marked absent (the inquirer gets the handler's contact).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from events.case import CaseClassified, Jurisdiction
from events.case_matter import MatterSuggested, MatterSuggestion
from events.case_referral import CaseEscalated, CaseReferred, EscalationReason, InternalReferral
from events.fields import LeaderRef, LeaderRole, StaffMember
from events.registry import EventPayload
from services.directory.model import Matter, Role
from services.domain.case import CaseState, Status
from services.routing.classify import Classification, classify

if TYPE_CHECKING:
    from services.directory.index import DirectoryIndex, Person

__all__ = ["Classification", "choose_handler", "classify", "decide", "escalation_ladder",
           "section_staff"]

COMPLAINT_CATEGORIES = frozenset({"投诉举报"})
# Unclear, but the best suggestion has at least this share: the first responder picks among
# the top 3 (matter_suggested) instead of the case going up the ladder at once.
SUGGEST_FROM = 0.2
LEADER_ROLES = frozenset({Role.section_chief, Role.supervising_leader, Role.principal_leader})


@lru_cache(maxsize=8)
def _staff_by_section(directory: DirectoryIndex) -> dict[str, tuple[Person, ...]]:
    by_section: dict[str, list[Person]] = {}
    for person in directory.people.values():
        if person.staff.section is not None:
            by_section.setdefault(person.staff.section, []).append(person)
    return {section: tuple(people) for section, people in by_section.items()}


def section_staff(directory: DirectoryIndex, section_id: str) -> tuple[Person, ...]:
    """Everyone in a section (looked up once per directory version)."""
    return _staff_by_section(directory).get(section_id, ())


def choose_handler(
    section_id: str,
    directory: DirectoryIndex,
    open_counts: Mapping[str, int],
    *,
    on_duty_only: bool = True,
) -> Person | None:
    """The section's staff member with the fewest open cases (leaders only if need be)."""
    people = [p for p in section_staff(directory, section_id)
              if p.staff.on_duty or not on_duty_only]
    workers = [p for p in people if not p.has(*LEADER_ROLES)] or people
    return min(workers, key=lambda p: (open_counts.get(p.staff.id, 0), p.staff.id), default=None)


def escalation_ladder(state: CaseState, directory: DirectoryIndex) -> list[LeaderRef]:
    """Section chief, supervising leader, principal leader of the first responder."""
    responder = directory.person(state.first_responder_id or "")
    unit_id = responder.unit.id if responder else state.unit_id
    section = responder.staff.section if responder else None
    if unit_id is None:
        return []
    rungs = [
        (directory.section_chief(section) if section else None, LeaderRole.section_head),
        (directory.supervising_leader(unit_id, section), LeaderRole.supervising_leader),
        (directory.principal_leader(unit_id), LeaderRole.principal_leader),
    ]
    people = [(p, role) for p, role in rungs if p and p.staff.id != state.first_responder_id]
    present = [(p, role) for p, role in people if p.staff.on_duty] or people
    return [LeaderRef(id=p.staff.id, role=role, name=p.staff.name) for p, role in present]


def decide(
    state: CaseState,
    classification: Classification,
    directory: DirectoryIndex,
    open_counts: Mapping[str, int],
) -> list[EventPayload]:
    """The payloads routing appends to this case now, in order (see the module docstring)."""
    if state.version == 0 or state.status is not Status.received or state.acted_by_staff:
        return []
    matter = classification.matter
    if matter is None and classification.confidence >= SUGGEST_FROM:
        return [suggested(classification)]
    if matter is None:
        return _escalate(state, directory, EscalationReason.unclear_jurisdiction, _unclear_why(
            classification))
    classified = _classified(state, classification, matter, directory)
    decisions: list[EventPayload] = [classified]
    if classified.jurisdiction is Jurisdiction.complaint:
        decisions += _escalate_to_principal(state, directory)
    if matter.section is None or classified.jurisdiction is Jurisdiction.own_duties:
        return decisions
    if matter.section == _section_of(state, directory):
        return decisions  # a complaint received by the complaints section itself
    referral = _referral(state, matter, directory, open_counts)
    if referral is None:
        return decisions + _escalate(state, directory, EscalationReason.other,
                                     f"事项“{matter.name}”的办理科室 {matter.section} 无经办人员")
    return [*decisions, referral]


def _section_of(state: CaseState, directory: DirectoryIndex) -> str | None:
    responder = directory.person(state.first_responder_id or "")
    return responder.staff.section if responder else None


def _jurisdiction(state: CaseState, matter: Matter, directory: DirectoryIndex) -> Jurisdiction:
    if matter.category in COMPLAINT_CATEGORIES:
        return Jurisdiction.complaint
    if matter.external_body is not None:
        return Jurisdiction.external_body
    if matter.unit != state.unit_id:
        return Jurisdiction.other_unit
    if matter.section == _section_of(state, directory):
        return Jurisdiction.own_duties
    return Jurisdiction.own_unit


def _classified(
    state: CaseState, c: Classification, matter: Matter, directory: DirectoryIndex
) -> CaseClassified:
    return CaseClassified(
        matter_type_code=matter.code,
        matter_type_name=matter.name,
        jurisdiction=_jurisdiction(state, matter, directory),
        handling_unit_id=matter.unit or matter.external_body,
        handling_section_id=matter.section,
        method=c.method,
        confidence=c.confidence,
    )


def _referral(
    state: CaseState, matter: Matter, directory: DirectoryIndex, open_counts: Mapping[str, int]
) -> CaseReferred | None:
    assert matter.section is not None
    handler = choose_handler(matter.section, directory, open_counts)
    present = handler is not None
    handler = handler or choose_handler(matter.section, directory, open_counts,
                                        on_duty_only=False)
    if handler is None:
        return None
    section, unit = directory.sections[matter.section]
    staff = handler.staff
    return CaseReferred(
        referral=InternalReferral(
            kind="internal",
            unit_id=unit.id if unit.id != state.unit_id else None,
            section_id=section.id,
            section_name=section.name,
            handler=StaffMember(id=staff.id, name=staff.name, duty=staff.duty,
                                contact=staff.contact),
            handler_present=present,
        ),
        reason=f"按事项目录，“{matter.name}”由{unit.name}{section.name}办理，经办人{staff.name}"
               f"（{staff.contact}）",
    )


def _escalate(
    state: CaseState, directory: DirectoryIndex, reason: EscalationReason, details: str
) -> list[EventPayload]:
    ladder = escalation_ladder(state, directory)
    for step, leader in enumerate(ladder, start=1):
        if leader.id not in state.escalated_to:
            return [CaseEscalated(leader=leader, reason=reason, details=details,
                                  ladder_step=step)]
    return []  # everyone up to the principal leader already has it


def _escalate_to_principal(state: CaseState, directory: DirectoryIndex) -> list[EventPayload]:
    """Complaints are reported to the principal leader at once, on duty or not."""
    responder = directory.person(state.first_responder_id or "")
    unit_id = responder.unit.id if responder else state.unit_id
    principal = directory.principal_leader(unit_id) if unit_id else None
    if principal is None or principal.staff.id in state.escalated_to:
        return []
    leader = LeaderRef(id=principal.staff.id, role=LeaderRole.principal_leader,
                       name=principal.staff.name)
    return [CaseEscalated(leader=leader, reason=EscalationReason.complaint,
                          details="投诉举报，按规定立即报告主要领导")]


def suggested(c: Classification) -> MatterSuggested:
    return MatterSuggested(
        confidence=c.confidence,
        suggestions=[MatterSuggestion(
            matter_type_code=s.code, matter_type_name=s.matter.name[:200], score=s.score,
            handling_unit_id=s.matter.unit or s.matter.external_body,
            handling_section_id=s.matter.section) for s in c.suggestions])


def _unclear_why(c: Classification) -> str:
    if c.rivals:
        return "事项不明确，请示领导协调解决：可能属于 " + "、".join(c.rivals)
    return "事项不明确，请示领导协调解决：事项目录中没有对应事项"
