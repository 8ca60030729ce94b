"""The brush-offs a first responder may never use (DOMAIN.md section 1):
不知道, 不归我管, 不清楚, 你去找其他部门吧 — and their English equivalents.

Matching ignores case, spaces and punctuation. A few polite set phrases that merely contain
a forbidden word ("如有不清楚的地方" — "if anything is unclear, call us") are allowed.
"""

from __future__ import annotations

import re
import unicodedata

FORBIDDEN: tuple[str, ...] = (
    "不知道",
    "不归我管",
    "不清楚",
    "你去找其他部门吧",
    "去找其他部门",
    "找别的部门",
    "不关我的事",
    "不是我的事",
    "不归我们管",
    "这事不归",
    "not my job",
    "not my problem",
    "not my department",
    "not my business",
    "not my responsibility",
    "i don't know",
    "i do not know",
    "no idea",
    "ask another department",
    "go to another department",
    "try another department",
)
ALLOWED_CONTEXTS: tuple[str, ...] = ("如有不清楚", "若有不清楚", "有不清楚的地方", "有不清楚之处")

_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    return _NOISE.sub("", text)


_PATTERNS = [(p, _normalise(p)) for p in FORBIDDEN]
_ALLOWED = [_normalise(p) for p in ALLOWED_CONTEXTS]


def find_brush_off(text: str) -> str | None:
    """The forbidden phrase ``text`` contains, or None."""
    flat = _normalise(text)
    for allowed in _ALLOWED:
        flat = flat.replace(allowed, "")
    for phrase, pattern in _PATTERNS:
        if pattern in flat:
            return phrase
    return None
