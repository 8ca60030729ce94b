"""The base of every command body the HTTP APIs take (intake's, accountability's).

    Strict   unknown fields refused (no mass assignment), text stripped and NFC, no control,
             bidi-override or (in names, phones, addresses) zero-width characters
             (services/common/text.py; PostgreSQL cannot store NUL in JSON)
    Action   a command on an existing case: ``expected_version`` guards against acting on
             a stale view (409 when the case moved on meanwhile)
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.text import clean_tree


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _text_hygiene(cls, data: Any) -> Any:
        """NFC, and no control, bidi-override or (in names, phones, addresses) zero-width
        characters; line breaks only in free text (services/common/text.py)."""
        return clean_tree(data)

    def inquirer_texts(self) -> dict[str, str | None]:
        return {}


class Action(Strict):
    """A command on an existing case; ``expected_version`` guards against acting on a
    stale view (409 when the case moved on meanwhile)."""

    expected_version: Annotated[int, Field(ge=1)] | None = None
