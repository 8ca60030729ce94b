"""The responsibility chain proposed for a breach (DOMAIN.md section 5), from the directory.

    the person complained about (the first responder by default)   direct
      └─ the chief of their section                                main_leadership
           └─ the leader supervising that section (分管), or
              the unit's principal leader when no one supervises it  important_leadership

Each person appears once, at the heaviest kind they hold: a section chief complained about
bears direct responsibility and the chain goes on to their supervising leader. Pure: reads
an in-memory directory index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from events.accountability import ResponsibilityKind

if TYPE_CHECKING:
    from services.directory.index import DirectoryIndex, Person


@dataclass(frozen=True)
class Link:
    staff_id: str
    name: str
    kind: ResponsibilityKind


def responsibility_chain(directory: DirectoryIndex, staff_ids: list[str]) -> list[Link]:
    """Direct responsibility for each of ``staff_ids`` found in the directory, then the
    leadership above them; unknown ids are left out (the caller checks them)."""
    chain: dict[str, Link] = {}

    def add(person: Person | None, kind: ResponsibilityKind) -> None:
        if person is not None and person.staff.id not in chain:
            chain[person.staff.id] = Link(person.staff.id, person.staff.name, kind)

    people = [p for p in (directory.person(s) for s in staff_ids) if p is not None]
    for person in people:
        add(person, ResponsibilityKind.direct)
    for person in people:
        section = person.staff.section
        chief = directory.section_chief(section) if section else None
        add(chief, ResponsibilityKind.main_leadership)
    for person in people:
        section = person.staff.section
        leader = (directory.supervising_leader(person.unit.id, section)
                  or directory.principal_leader(person.unit.id))
        add(leader, ResponsibilityKind.important_leadership)
    return list(chain.values())
