"""The escalation ladder after a breach (DOMAIN.md section 5: the responsibility chain).

    breach (step 0)  ─▶ the person responsible (deadline_breached)
    step 1           ─▶ the head of their section          (main leadership responsibility)
    step 2           ─▶ the unit's supervising leader       (important leadership responsibility)
    step 3           ─▶ the unit's principal leader
    step n fires ``ladder_delay_working_days * n`` working days after the due time.

Who holds each rung is read from the directory in force when the step fires; a rung nobody
holds is skipped (its timer is marked so). ``Leaders`` is what the directory index offers.
"""

from __future__ import annotations

from typing import Protocol

from events.fields import LeaderRef, LeaderRole

ROLES = {1: LeaderRole.section_head, 2: LeaderRole.supervising_leader,
         3: LeaderRole.principal_leader}


class _Staff(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def section(self) -> str | None: ...


class _Unit(Protocol):
    @property
    def id(self) -> str: ...


class _Person(Protocol):
    @property
    def staff(self) -> _Staff: ...
    @property
    def unit(self) -> _Unit: ...


class Leaders(Protocol):
    def person(self, staff_id: str) -> _Person | None: ...
    def section_chief(self, section_id: str) -> _Person | None: ...
    def supervising_leader(self, unit_id: str, section_id: str | None) -> _Person | None: ...
    def principal_leader(self, unit_id: str) -> _Person | None: ...


def kind_of_step(step: int) -> str:
    return f"escalate-{step}"


def step_of_kind(kind: str) -> int | None:
    return int(kind.split("-")[1]) if kind.startswith("escalate-") else None


def recipient(step: int, leaders: Leaders, responsible_id: str | None, unit_id: str | None,
              section_id: str | None) -> LeaderRef | None:
    """Who step ``step`` goes to: the responsible person's section and unit if the directory
    knows them, else the case's own."""
    person = leaders.person(responsible_id) if responsible_id else None
    if person is not None:
        unit_id = person.unit.id
        section_id = person.staff.section or section_id
    found: _Person | None = None
    if step == 1 and section_id:
        found = leaders.section_chief(section_id)
    elif step == 2 and unit_id:
        found = leaders.supervising_leader(unit_id, section_id)
    elif step == 3 and unit_id:
        found = leaders.principal_leader(unit_id)
    if found is None or found.staff.id == responsible_id:
        return None
    return LeaderRef(id=found.staff.id, role=ROLES[step], name=found.staff.name)
