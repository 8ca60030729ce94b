"""The first classifier: catalogue keywords by substring. Pure: no I/O. Kept as the
baseline ``bench/routing_accuracy_bench.py`` measures the retrieval classifier against.

    text ──NFKC, lower case, no spaces──▶ every occurrence of every matter's keywords and
    name (Chinese has no word breaks, so plain substring search)
        ──longest match wins──▶ an occurrence lying inside a longer one is dropped
                                ("补办社保卡" counts once, not also as "办社保卡")
        ──score per matter──▶ total length of its distinct surviving terms
        (nothing verbatim? a loose pass: a term of 3+ characters whose characters all occur
         in the text, in any order — "社保卡补办" for "补办社保卡" — scores its length - 1,
         and the confidence is scaled by LOOSE_DISCOUNT)
        ──best vs runner-up──▶ confidence = best / (best + best score of any matter handled
                               elsewhere); a tie or a near tie (< CLEAR_AT), or a best score
                               below MIN_SCORE, is *unclear*: nobody may guess whose it is

Several matters of one section competing is no doubt at all about where the case goes, so
only matters handled somewhere else count as rivals. The method recorded on the event is
``catalogue`` (the contract's name for "matched against the catalogue's keywords").
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from services.routing.classify import Classification, destination, normalise

if TYPE_CHECKING:
    from services.directory.index import DirectoryIndex
    from services.directory.model import Matter

MIN_SCORE = 2  # characters of matched keywords; one two-character word such as 低保 or 护照
CLEAR_AT = 0.6  # the best matter must clearly beat every matter handled elsewhere
LOOSE_MIN_LENGTH = 3
LOOSE_DISCOUNT = 0.8


@dataclass(frozen=True)
class _Catalogue:
    matters: tuple[Matter, ...]
    users: dict[str, tuple[int, ...]]  # term -> indexes of the matters using it
    letters: tuple[tuple[str, frozenset[str], Counter[str]], ...]  # loose-pass terms
    by_first: dict[str, tuple[int, ...]]  # a character -> the loose-pass terms it begins
    # at every position, the longest term starting there (a lookahead, so matches overlap)
    pattern: re.Pattern[str]


@lru_cache(maxsize=8)
def _catalogue(directory: DirectoryIndex) -> _Catalogue:
    """Every distinct term once (a keyword may belong to several matters)."""
    matters = tuple(directory.matters.values())
    users: dict[str, list[int]] = {}
    for i, matter in enumerate(matters):
        for term in {normalise(t) for t in (*matter.keywords, matter.name)} - {""}:
            users.setdefault(term, []).append(i)
    letters = tuple((t, frozenset(t), Counter(t)) for t in users if len(t) >= LOOSE_MIN_LENGTH)
    by_first: dict[str, list[int]] = {}
    for i, (term, _, _) in enumerate(letters):
        by_first.setdefault(term[0], []).append(i)
    longest_first = sorted(users, key=lambda t: (-len(t), t))
    pattern = re.compile("(?=(" + "|".join(map(re.escape, longest_first)) + "))")
    return _Catalogue(matters, {t: tuple(ms) for t, ms in users.items()}, letters,
                      {c: tuple(ts) for c, ts in by_first.items()}, pattern)


def _surviving_terms(text: str, pattern: re.Pattern[str]) -> set[str]:
    kept: set[str] = set()
    reach = -1  # the end of the furthest-reaching match so far
    for match in pattern.finditer(text):
        term = match.group(1)
        end = match.start() + len(term)
        if end > reach:  # not inside an earlier, longer match
            kept.add(term)
            reach = end
    return kept


Scores = dict[int, tuple[int, list[str]]]  # matter index -> (score, terms matched)


def _score(catalogue: _Catalogue, found: dict[str, int]) -> Scores:
    scores: Scores = {}
    for term in sorted(found):
        for i in catalogue.users[term]:
            score, terms = scores.get(i, (0, []))
            scores[i] = (score + found[term], [*terms, term])
    return scores


def _loose(text: str, catalogue: _Catalogue) -> dict[str, int]:
    """Only terms whose first character occurs in the text can have all of theirs there."""
    chars, have = frozenset(text), Counter(text)
    found: dict[str, int] = {}
    for i in sorted(i for c in chars for i in catalogue.by_first.get(c, ())):
        term, kinds, need = catalogue.letters[i]
        if kinds <= chars and not need - have:
            found[term] = len(term) - 1
    return found


def classify_keywords(matter_text: str, directory: DirectoryIndex) -> Classification:
    """Which catalogue matter the inquirer's words describe, or unclear."""
    catalogue = _catalogue(directory)
    text = normalise(matter_text)
    scores = _score(catalogue, {t: len(t) for t in _surviving_terms(text, catalogue.pattern)})
    if scores:
        return _judge(catalogue, scores, 1.0)
    scores = _score(catalogue, _loose(text, catalogue))
    return _judge(catalogue, scores, LOOSE_DISCOUNT) if scores else Classification(None, 0.0)


def _judge(catalogue: _Catalogue, scores: Scores, discount: float) -> Classification:
    # best score, then more terms, then catalogue order
    best = min(scores, key=lambda i: (-scores[i][0], -len(scores[i][1]), i))
    winner, (top, terms) = catalogue.matters[best], scores[best]
    rivals = [i for i in scores if destination(catalogue.matters[i]) != destination(winner)]
    runner_up = max((scores[i][0] for i in rivals), default=0)
    share = top / (top + runner_up)
    if top < MIN_SCORE or share < CLEAR_AT:
        codes = {winner.code, *(catalogue.matters[i].code for i in rivals
                                if scores[i][0] == runner_up)}
        found = {t for _, ts in scores.values() for t in ts}
        return Classification(None, round(share * discount, 3), tuple(sorted(found)),
                              tuple(sorted(codes)))
    return Classification(winner, round(share * discount, 3), tuple(sorted(terms)))
