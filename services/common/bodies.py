"""The base of every command body the HTTP APIs take (intake's, accountability's).

    Strict   unknown fields refused (no mass assignment), text stripped, no control
             characters anywhere in the body (PostgreSQL cannot store NUL in JSON)
    Action   a command on an existing case: ``expected_version`` guards against acting on
             a stale view (409 when the case moved on meanwhile)
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_character_at(value: Any, path: str = "") -> str | None:
    """Where a string holds a control character (PostgreSQL cannot store NUL in JSON)."""
    if isinstance(value, str):
        return (path or "body") if _CONTROL.search(value) else None
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        found = _control_character_at(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        where = _control_character_at(data)
        if where:
            raise ValueError(f"{where}: text may not contain control characters")
        return data

    def inquirer_texts(self) -> dict[str, str | None]:
        return {}


class Action(Strict):
    """A command on an existing case; ``expected_version`` guards against acting on a
    stale view (409 when the case moved on meanwhile)."""

    expected_version: Annotated[int, Field(ge=1)] | None = None
