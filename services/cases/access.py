"""Who may see a case and who may act on it (OWASP API1, object-level authorisation).

    sees          a unit the case has been in is the caller's unit; or the caller holds or
                  held it, is the named handler awaiting the handoff, or a leader it was
                  escalated to; or the caller reads every case: supervisor (纪检监察),
                  centre_admin, and the centre's leadership (they decide transfers)
    may_act       the current handler or responsible person (the first responder until a
                  transfer), or a leader (section chief, supervising or principal leader)
                  of a unit the case is in
    may_take_handoff       the named handler, or the chief of the receiving section
    may_decide_transfer    the centre's principal or supervising leader, or the principal
                           leader of a unit the case is in (行政服务中心 rule 5)
    may_decide_extension   a leader of a unit the case is in
    may_decide             decide_transfer / decide_extension: the above, and never by the
                           one who asked (a leader does not approve their own request)

A case outside the caller's scope is reported as not found, never as forbidden, so case
ids cannot be probed. The service centre is the unit whose staff include a centre_admin.
Pure functions over the directory and the case state (no I/O), and ``load_visible``: a case
read from the store as ``Loaded`` if the caller sees it, else CaseNotFound. Intake, the
ledger and the dashboard apply these same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from events import CloudEvent
from events.case import CaseReceived
from services.cases.repository import CaseNotFound, CaseRepository
from services.directory.index import DirectoryIndex, Person
from services.directory.model import Role
from services.domain.case import CaseState, fold

LEADERS = (Role.section_chief, Role.supervising_leader, Role.principal_leader)
READ_ALL = (Role.supervisor, Role.centre_admin)


def centre_unit_ids(directory: DirectoryIndex) -> frozenset[str]:
    return frozenset(p.unit.id for p in directory.people.values() if p.has(Role.centre_admin))


def is_centre_leader(person: Person, directory: DirectoryIndex) -> bool:
    return (person.unit.id in centre_unit_ids(directory)
            and person.has(Role.principal_leader, Role.supervising_leader))


def reads_all(person: Person, directory: DirectoryIndex) -> bool:
    return person.has(*READ_ALL) or is_centre_leader(person, directory)


def named_on(person: Person, state: CaseState) -> bool:
    me = person.staff.id
    return (me in state.participants or me == state.awaiting_handoff_to
            or me in state.escalated_to)


def sees(person: Person, state: CaseState, directory: DirectoryIndex) -> bool:
    return (person.unit.id in state.units or named_on(person, state)
            or reads_all(person, directory))


def sees_personal_data(person: Person, state: CaseState) -> bool:
    """Those who read every case for oversight see inquirers' data masked, except the
    supervisor, who investigates complaints and needs the inquirer's contact."""
    return (person.unit.id in state.units or named_on(person, state)
            or person.has(Role.supervisor))


def leads_case_unit(person: Person, state: CaseState) -> bool:
    return person.has(*LEADERS) and person.unit.id in state.units


def may_act(person: Person, state: CaseState) -> bool:
    me = person.staff.id
    return me in (state.handler_id, state.responsible_id) or leads_case_unit(person, state)


def may_take_handoff(person: Person, state: CaseState) -> bool:
    if person.staff.id == state.awaiting_handoff_to:
        return True
    return person.has(Role.section_chief) and person.staff.section == state.section_id


def may_decide_transfer(person: Person, state: CaseState, directory: DirectoryIndex) -> bool:
    return is_centre_leader(person, directory) or (
        person.has(Role.principal_leader) and person.unit.id in state.units)


def may_decide_extension(person: Person, state: CaseState) -> bool:
    return leads_case_unit(person, state)


REQUEST_OF = {"decide_transfer": "transfer_requested", "decide_extension": "extension_requested"}


def asked_by(person: Person, loaded: Loaded, request: str) -> bool:
    """Whether ``person`` made the case's last ``request`` (e.g. ``transfer_requested``)."""
    asked = loaded.last(request)
    return asked is not None and asked.actor == f"staff:{person.staff.id}"


def may_decide(person: Person, loaded: Loaded, action: str, directory: DirectoryIndex) -> bool:
    """``decide_transfer`` or ``decide_extension``: a leader does not approve their own
    request (the commands and the console's forms both ask here)."""
    if asked_by(person, loaded, REQUEST_OF[action]):
        return False
    if action == "decide_transfer":
        return may_decide_transfer(person, loaded.state, directory)
    return may_decide_extension(person, loaded.state)


def scope_filter(person: Person, directory: DirectoryIndex) -> tuple[str, dict[str, Any]]:
    """The SQL condition over ``case_index`` matching ``sees``, with its parameters. Each
    arm is one an index answers (``arr @> ARRAY[x]`` is ``x = ANY(arr)`` as a GIN index can
    take it; migration 0016): the list is a BitmapOr of index scans, never a scan of every
    case."""
    if reads_all(person, directory):
        return "true", {}
    return (
        "(units @> ARRAY[%(scope_unit)s]::text[] OR participants @> ARRAY[%(scope_me)s]::text[]"
        " OR awaiting_handoff_to = %(scope_me)s OR escalated_to @> ARRAY[%(scope_me)s]::text[])",
        {"scope_unit": person.unit.id, "scope_me": person.staff.id},
    )


@dataclass(frozen=True)
class Loaded:
    state: CaseState
    events: list[CloudEvent]

    @property
    def correlation(self) -> UUID:
        first = self.events[0]
        return first.correlationid or first.id

    def last(self, name: str) -> CloudEvent | None:
        return next((e for e in reversed(self.events) if e.type.split(".")[2] == name), None)


def load_visible(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
                 person: Person, case_id: str) -> Loaded:
    """The case if ``person`` may see it; otherwise CaseNotFound, as if it did not exist."""
    return visible([r.event for r in repo.store.read_stream(case_id, conn=conn)], directory,
                   person, case_id)


def visible(events: list[CloudEvent], directory: DirectoryIndex, person: Person,
            case_id: str) -> Loaded:
    if not events or events[0].type != CaseReceived.event_type:
        raise CaseNotFound(case_id)
    loaded = Loaded(fold(case_id, events), events)
    if not sees(person, loaded.state, directory):
        raise CaseNotFound(case_id)
    return loaded
