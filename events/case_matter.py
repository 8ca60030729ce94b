"""Which matter a case is about, when routing could not say for sure.

    matter_suggested   routing: the catalogue's best 3 matters with their shares, below the
                       threshold for deciding alone; the first responder picks one
    matter_chosen      a person: the matter picked from the suggestions, or a correction
                       (from -> to, why); the envelope's actor says who

A choice is its own fact, beside routing's ``classified``: a reader replays who decided
what and whether it was one of routing's suggestions (the classifier learns from those).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from events.case import MatterTypeCode
from events.fields import Id, ShortText, Text, Value
from events.registry import EventPayload, register

Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class MatterSuggestion(Value):
    """A matter of the catalogue the inquiry may be about, and where it is handled."""

    matter_type_code: MatterTypeCode
    matter_type_name: ShortText | None = None
    score: Share  # its share of the classifier's confidence
    handling_unit_id: Id | None = None  # the unit, or the external body
    handling_section_id: Id | None = None


@register
class MatterSuggested(EventPayload):
    """Routing could not decide the matter alone; these are its best guesses, best first."""

    event_type = "shouwen.case.matter_suggested.v1"

    suggestions: Annotated[list[MatterSuggestion], Field(min_length=1, max_length=5)]
    confidence: Share  # the best one's share; below the threshold for deciding
    method: Annotated[str, Field(max_length=32)] = "catalogue"


@register
class MatterChosen(EventPayload):
    """A person decided which matter the case is about: a pick among routing's suggestions,
    or a correction of the matter the case had."""

    event_type = "shouwen.case.matter_chosen.v1"

    matter_type_code: MatterTypeCode
    matter_type_name: ShortText | None = None
    previous_matter_type_code: MatterTypeCode | None = None  # from (None: it had none)
    handling_unit_id: Id | None = None
    handling_section_id: Id | None = None
    suggested: bool = False  # one of routing's suggestions
    suggestion_rank: Annotated[int, Field(ge=1, le=5)] | None = None
    reason: Text | None = None  # why
