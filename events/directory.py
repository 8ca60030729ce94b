"""Events about the directory and matter catalogue (stream ``directory``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from events.registry import EventPayload, register

Ids = list[Annotated[str, Field(max_length=64)]]


class Changes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    added: Ids = Field(default_factory=list)
    removed: Ids = Field(default_factory=list)
    changed: Ids = Field(default_factory=list)


@register
class DirectoryChanged(EventPayload):
    """A new version of the directory and catalogue was put in force."""

    event_type = "shouwen.directory.changed.v1"

    version: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    source: str = Field(max_length=500)
    units: Changes
    sections: Changes
    staff: Changes
    matters: Changes
    external_bodies: Changes
