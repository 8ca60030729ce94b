"""Who may replay a case or export a unit's ledger: intake's rules (services/cases/access.py),
applied to the ledger's reads. Pure.

    case_access(person, directory, events) -> (sees, personal)
        sees      intake's ``sees`` over the case's state today (unit scope, those named
                  on it, supervisors / centre admins / the centre's leadership everywhere)
        personal  intake's ``sees_personal_data`` (oversight readers other than the
                  supervisor get the inquirer masked)
    export_access(person, directory, unit_id) -> (may, personal)
        staff of the unit: yes, with the inquirers' data; readers of every case: yes,
        masked, except the supervisor; anyone else: no

A replay that is refused answers 404 (as intake does, so ids cannot be probed).
"""

from __future__ import annotations

from collections.abc import Sequence

from events import CloudEvent
from services.cases.access import reads_all, sees, sees_personal_data
from services.directory.index import DirectoryIndex, Person
from services.directory.model import Role
from services.domain.case import fold


def case_access(person: Person, directory: DirectoryIndex, case_id: str,
                events: Sequence[CloudEvent]) -> tuple[bool, bool]:
    state = fold(case_id, list(events))
    if state.version == 0 or not sees(person, state, directory):
        return False, False
    return True, sees_personal_data(person, state)


def export_access(person: Person, directory: DirectoryIndex, unit_id: str) -> tuple[bool, bool]:
    if person.unit.id == unit_id:
        return True, True
    if reads_all(person, directory):
        return True, person.has(Role.supervisor)
    return False, False
