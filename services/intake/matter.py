"""Choosing a case's matter: a pick among routing's suggestions, or a correction.

    choose_matter(...) -> CaseState   appends ``matter_chosen`` (from, to, why; the actor is
                                      the person) through the commands' one path
    suggestions(loaded)               routing's latest suggestions for the case, if any

A pick of one of the suggestions needs no reason; a correction (a matter routing did not
suggest, or changing one the case already had) does: it is what the routing report and the
classifier's learning read.
"""

from __future__ import annotations

from typing import Any

import psycopg

from events.case_matter import MatterChosen
from services.cases.repository import CaseRepository
from services.directory.index import DirectoryIndex, Person
from services.domain.case import CaseState
from services.domain.errors import CommandRefused
from services.intake import models
from services.intake.commands import Loaded, _act


def suggestions(loaded: Loaded) -> list[dict[str, Any]]:
    """Routing's latest suggestions for this case, best first (empty when it had none)."""
    event = loaded.last("matter_suggested")
    return list(event.data["suggestions"]) if event is not None else []


def chosen(directory: DirectoryIndex, loaded: Loaded, body: models.ChooseMatter) -> MatterChosen:
    matter = directory.matters.get(body.matter_type_code)
    if matter is None:
        raise CommandRefused(f"matter_type_code: the catalogue has no matter "
                             f"{body.matter_type_code!r}", field="matter_type_code")
    previous = loaded.state.matter_type_code
    if previous == matter.code:
        raise CommandRefused(f"matter_type_code: the case is already {matter.code}",
                             field="matter_type_code")
    codes = [s["matter_type_code"] for s in suggestions(loaded)]
    rank = codes.index(matter.code) + 1 if matter.code in codes and previous is None else None
    if rank is None and body.reason is None:
        raise CommandRefused("reason: say why, when the matter is not one routing suggested "
                             "or the case already had one", field="reason")
    return MatterChosen(
        matter_type_code=matter.code, matter_type_name=matter.name[:200],
        previous_matter_type_code=previous,
        handling_unit_id=matter.unit or matter.external_body,
        handling_section_id=matter.section, suggested=rank is not None, suggestion_rank=rank,
        reason=body.reason)


def choose_matter(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
                  actor: Person, case_id: str, body: models.ChooseMatter) -> CaseState:
    return _act(repo, conn, directory, actor, case_id, "choose_matter", body,
                lambda lo: chosen(directory, lo, body))
