"""What routing knows about an inquiry's matter, and the classifier that finds it. Pure: no I/O.

    classify(text, directory[, learned]) -> Classification
        matter          the matter recognised, or None (unclear: below the threshold)
        confidence      the calibrated share of the best matter (see ``retrieval``)
        suggestions     the top 3 matters with their shares, best first: what the first
                        responder picks from when the case is unclear
        rivals          when unclear: the codes of the suggestions

The classifier is ``retrieval`` (jieba words, character bigrams, pinyin, BM25 over the
catalogue's names, keywords and example phrasings). The first one, keyword substrings, is
``keywords.classify_keywords``, kept as the accuracy bench's baseline.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from events.case import ClassificationMethod

if TYPE_CHECKING:
    from services.directory.index import DirectoryIndex
    from services.directory.model import Matter


@dataclass(frozen=True)
class Suggestion:
    """A matter the inquiry may be about, with its share of the confidence (0..1)."""

    matter: Matter
    score: float

    @property
    def code(self) -> str:
        return self.matter.code


@dataclass(frozen=True)
class Classification:
    """The matter recognised (None when unclear), where it is handled, and why."""

    matter: Matter | None
    confidence: float
    matched: tuple[str, ...] = ()  # the catalogue terms found in the text
    rivals: tuple[str, ...] = ()  # when unclear: the matter codes that competed
    method: ClassificationMethod = ClassificationMethod.catalogue
    suggestions: tuple[Suggestion, ...] = ()  # the best matters, best first (top 3)

    @property
    def clear(self) -> bool:
        return self.matter is not None

    @property
    def matter_code(self) -> str | None:
        return self.matter.code if self.matter else None

    @property
    def unit_id(self) -> str | None:
        return self.matter.unit if self.matter else None

    @property
    def section_id(self) -> str | None:
        return self.matter.section if self.matter else None

    @property
    def external_body_id(self) -> str | None:
        return self.matter.external_body if self.matter else None


def normalise(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def destination(matter: Matter) -> tuple[str | None, ...]:
    return (matter.unit, matter.section, matter.external_body)


def classify(
    matter_text: str, directory: DirectoryIndex,
    learned: tuple[tuple[str, str], ...] = (),
) -> Classification:
    """Which catalogue matter the inquirer's words describe, or unclear with suggestions.
    ``learned``: approved (matter code, example phrasing) pairs beyond the catalogue's own."""
    from services.routing.retrieval import classify_text

    return classify_text(matter_text, directory, learned)
