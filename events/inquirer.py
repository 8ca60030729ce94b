"""An inquirer's personal data was erased (PIPL Art. 47): their data key was destroyed.

    inquirer_erased   appended to each of the inquirer's cases; carries no personal data.
                      Every personal field of the case sealed with that key now reads
                      ``[已删除 erased]``; readers scrub what they kept (projections,
                      delivery records). The hashes of the sealed events do not change.
"""

from __future__ import annotations

from enum import StrEnum

from events.fields import Id, Text
from events.registry import EventPayload, register


class ErasureGround(StrEnum):
    request = "request"  # the inquirer asked (删除权)
    retention = "retention"  # the unit's retention period ended
    other = "other"


@register
class InquirerErased(EventPayload):
    event_type = "shouwen.case.inquirer_erased.v1"

    inquirer_ref: Id
    ground: ErasureGround
    reason: Text
    key_id: Id  # the destroyed data key (the key id in this case's sealed fields)
