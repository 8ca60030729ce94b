"""Text hygiene, in one place, for every way text comes in (JSON API, Open311, console
forms, the CLI's directory files):

    every text          NFC-normalised; no C0/C1 control character (tab and line breaks
                        only in multi-line text), no lone surrogate, no bidirectional
                        embedding, override or isolate (U+202A-U+202E, U+2066-U+2069: they
                        make "txt.exe" read as "exe.txt")
    single-line text    (everything but the free-text fields in MULTI_LINE) no CR, LF, tab,
                        U+2028/U+2029
    names, phones, addresses  (IDENTITY) no zero-width characters either (U+200B-U+200D,
                        U+2060, U+FEFF): two names that look alike must be alike

    clean(value, field)       the cleaned value, or TextRefused naming the field and why
    clean_tree(data)          the same over a parsed JSON/form/YAML tree, by key name

Invalid UTF-8 never gets this far: services/common/guard.py refuses it (400).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

MULTI_LINE = frozenset({
    "matter", "answer", "reason", "details", "summary", "handling_plan", "note", "basis",
    "description", "requirements", "comment", "complaint", "findings", "grounds", "proposal",
    "reasoning", "circumstances_note", "message", "subject", "missing_materials", "materials",
    "forms",
})
IDENTITY = frozenset({
    "inquirer_name", "inquirer_phone", "inquirer_address", "inquirer_work_unit",
    "inquirer_id_number", "inquirer_email", "recipient_name", "recipient_contact",
    "collector_name", "collector_id_number", "contact_name", "contact_phone", "first_name",
    "last_name", "phone", "email", "address_string", "name", "contact", "address",
    "staff_id", "against_staff_id",
})
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_BREAK = re.compile("[\t\n\r\u2028\u2029]")
_ZERO_WIDTH = re.compile("[\u200b-\u200d\u2060\ufeff]")


class TextRefused(ValueError):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field


def clean(value: str, field: str, *, multi_line: bool | None = None,
          identity: bool | None = None) -> str:
    key = field.rsplit(".", 1)[-1]
    if key.isdigit() and "." in field:  # an item of a list: the list's name decides
        key = field.rsplit(".", 2)[-2]
    multi = key in MULTI_LINE if multi_line is None else multi_line
    ident = key in IDENTITY if identity is None else identity
    if _SURROGATE.search(value):
        raise TextRefused(field, "not text (a lone surrogate)")
    text = unicodedata.normalize("NFC", value)
    if _CONTROL.search(text):
        raise TextRefused(field, "text may not contain control characters")
    if _BIDI.search(text):
        raise TextRefused(field, "text may not contain bidirectional override, embedding "
                                 "or isolate characters (U+202A-U+202E, U+2066-U+2069)")
    if not multi and _BREAK.search(text):
        raise TextRefused(field, "a single line: no line breaks or tabs")
    if ident and _ZERO_WIDTH.search(text):
        raise TextRefused(field, "names, phones and addresses may not contain zero-width "
                                 "characters")
    return text


def clean_tree(data: Any, path: str = "") -> Any:
    """The tree with every string cleaned (keys too: they become field names)."""
    if isinstance(data, str):
        return clean(data, path or "body")
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            name = clean(k, path or "body", multi_line=False) if isinstance(k, str) else k
            out[name] = clean_tree(v, f"{path}.{name}" if path else str(name))
        return out
    if isinstance(data, list):
        return [clean_tree(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(data)]
    return data
