"""Yearly evaluation (考评, DOMAIN.md section 7) and the 12345 appraisal rates.

    score = 0.6 × assessment (the assessment group's 0–100)
          + 0.4 × citizen rating (mean of the year's ratings on 0–100)
    grade   < 60 不合格 unqualified · 60–89 合格 qualified · >= 90 优秀 excellent
    rating levels  非常满意 100 · 满意 80 · 基本满意 60 · 不满意 30 · 非常不满意 0
    fewer than 20 ratings, or no assessment: no score, and the reason is given

    satisfaction rate  (非常满意 + 满意 + 基本满意) / rated cases
    response rate      replied cases / received cases
    on-time rate       obligations met on time / obligations due (met, late or breached)
    resolution rate    completed with outcome "resolved" / completed cases

The mapping keeps the five levels evenly spaced above the pass line (60 = basically
satisfied, the grade boundary) and puts the two dissatisfied levels below it, so a unit
whose raters are on average "basically satisfied" lands exactly on the qualified line.
Rates are None when nothing was counted. Pure: the facts are read by ``facts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from events.case_outcome import SatisfactionLevel as Level
from events.deadline import Obligation

ASSESSMENT_WEIGHT, RATING_WEIGHT = 0.6, 0.4
MIN_RATINGS = 20
LEVEL_SCORE: dict[Level, int] = {
    Level.very_satisfied: 100, Level.satisfied: 80, Level.basically_satisfied: 60,
    Level.dissatisfied: 30, Level.very_dissatisfied: 0,
}
SATISFIED = frozenset({Level.very_satisfied, Level.satisfied, Level.basically_satisfied})
# the handling's own obligations; the accountability procedure's clocks are the
# supervisors', and supplying materials is the inquirer's side
HANDLING = frozenset({Obligation.forward, Obligation.reply, Obligation.complete,
                      Obligation.accept_referral})


class Grade(StrEnum):
    unqualified = "不合格"
    qualified = "合格"
    excellent = "优秀"


def grade(score: float) -> Grade:
    if score >= 90:
        return Grade.excellent
    return Grade.qualified if score >= 60 else Grade.unqualified


@dataclass(frozen=True)
class CaseFacts:
    """One case of the year, as far as the rates need it."""

    replied: bool = False
    completed: bool = False
    resolved: bool = False
    rating: Level | None = None


@dataclass(frozen=True)
class DeadlineFact:
    """One ``deadline_met`` or ``deadline_breached`` event of a case."""

    case_id: str
    obligation: str
    breached: bool = False
    on_time: bool = False
    cancelled: bool = False


@dataclass(frozen=True)
class Rates:
    received: int
    replied: int
    response_rate: float | None
    completed: int
    resolved: int
    resolution_rate: float | None
    rated: int
    satisfied: int
    satisfaction_rate: float | None
    deadlines_due: int
    deadlines_on_time: int
    on_time_rate: float | None


@dataclass(frozen=True)
class Evaluation:
    year: int
    assessment: float | None
    ratings: int
    rating_score: float | None  # shown even when too few for the yearly score
    score: float | None
    grade: Grade | None
    incomplete: list[str]
    rates: Rates


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def deadlines(facts: Iterable[DeadlineFact]) -> tuple[int, int]:
    """(due, met on time): each obligation of a case once; a breach makes it late even if
    it was met afterwards; a cancelled one (fell away) is not due."""
    due: dict[tuple[str, str], bool] = {}
    for f in facts:
        if f.obligation not in HANDLING or (f.cancelled and not f.breached):
            continue
        key = (f.case_id, f.obligation)
        on_time = f.on_time and not f.breached
        due[key] = due.get(key, True) and on_time
    return len(due), sum(due.values())


def rates(cases: list[CaseFacts], deadline_facts: Iterable[DeadlineFact]) -> Rates:
    replied = sum(c.replied for c in cases)
    completed = sum(c.completed for c in cases)
    resolved = sum(c.completed and c.resolved for c in cases)
    ratings = [c.rating for c in cases if c.rating is not None]
    satisfied = sum(r in SATISFIED for r in ratings)
    due, on_time = deadlines(deadline_facts)
    return Rates(received=len(cases), replied=replied, response_rate=ratio(replied, len(cases)),
                 completed=completed, resolved=resolved,
                 resolution_rate=ratio(resolved, completed), rated=len(ratings),
                 satisfied=satisfied, satisfaction_rate=ratio(satisfied, len(ratings)),
                 deadlines_due=due, deadlines_on_time=on_time, on_time_rate=ratio(on_time, due))


def evaluate(year: int, assessment: float | None, cases: list[CaseFacts],
             deadline_facts: Iterable[DeadlineFact]) -> Evaluation:
    r = rates(cases, deadline_facts)
    levels = [c.rating for c in cases if c.rating is not None]
    rating_score = (round(sum(LEVEL_SCORE[x] for x in levels) / len(levels), 2)
                    if levels else None)
    incomplete = []
    if len(levels) < MIN_RATINGS:
        incomplete.append(f"insufficient ratings: {len(levels)} of at least {MIN_RATINGS}")
    if assessment is None:
        incomplete.append("no assessment score for the year")
    score = None
    if not incomplete and assessment is not None and rating_score is not None:
        score = round(ASSESSMENT_WEIGHT * assessment + RATING_WEIGHT * rating_score, 2)
    return Evaluation(year=year, assessment=assessment, ratings=len(levels),
                      rating_score=rating_score, score=score,
                      grade=grade(score) if score is not None else None,
                      incomplete=incomplete, rates=r)
