"""Evaluation without I/O: the 60/40 score, the grades, too few ratings, the 12345 rates."""

from __future__ import annotations

import pytest

from events.case_outcome import SatisfactionLevel as L
from services.accountability.evaluation import (
    CaseFacts,
    DeadlineFact,
    Grade,
    deadlines,
    evaluate,
    grade,
)


@pytest.mark.parametrize(("score", "expected"), [
    (0, Grade.unqualified), (59.99, Grade.unqualified), (60, Grade.qualified),
    (89.99, Grade.qualified), (90, Grade.excellent), (100, Grade.excellent)])
def test_grade_thresholds(score: float, expected: Grade) -> None:
    assert grade(score) is expected


def rated(level: L, n: int) -> list[CaseFacts]:
    return [CaseFacts(replied=True, rating=level) for _ in range(n)]


def test_score_is_60_percent_assessment_and_40_percent_rating() -> None:
    cases = rated(L.very_satisfied, 10) + rated(L.satisfied, 6) + rated(L.dissatisfied, 4)
    # rating = (10*100 + 6*80 + 4*30) / 20 = 80; score = 0.6*95 + 0.4*80 = 89
    e = evaluate(2026, 95, cases, [])
    assert (e.ratings, e.rating_score, e.score, e.grade) == (20, 80.0, 89.0, Grade.qualified)
    assert e.incomplete == []
    assert evaluate(2026, 100, rated(L.very_satisfied, 20), []).grade is Grade.excellent
    assert evaluate(2026, 50, rated(L.basically_satisfied, 25), []).score == 54.0


def test_fewer_than_20_ratings_gives_no_score_but_shows_the_rating() -> None:
    e = evaluate(2026, 95, rated(L.satisfied, 19), [])
    assert e.score is None and e.grade is None and e.rating_score == 80.0
    assert e.incomplete == ["insufficient ratings: 19 of at least 20"]


def test_without_an_assessment_there_is_no_score() -> None:
    e = evaluate(2026, None, rated(L.satisfied, 30), [])
    assert e.score is None and e.incomplete == ["no assessment score for the year"]


def test_the_12345_rates() -> None:
    cases = [
        CaseFacts(replied=True, completed=True, resolved=True, rating=L.very_satisfied),
        CaseFacts(replied=True, completed=True, resolved=False, rating=L.basically_satisfied),
        CaseFacts(replied=True, completed=True, resolved=True, rating=L.very_dissatisfied),
        CaseFacts(replied=False),
    ]
    r = evaluate(2026, None, cases, []).rates
    assert (r.received, r.replied, r.response_rate) == (4, 3, 0.75)
    assert (r.completed, r.resolved, r.resolution_rate) == (3, 2, 0.6667)
    assert (r.rated, r.satisfied, r.satisfaction_rate) == (3, 2, 0.6667)
    assert (r.deadlines_due, r.on_time_rate) == (0, None)


def test_deadlines_count_each_obligation_once_and_a_breach_stays_late() -> None:
    facts = [
        DeadlineFact("c1", "reply", on_time=True),
        DeadlineFact("c1", "complete", breached=True),
        DeadlineFact("c1", "complete", on_time=False),  # met late after the breach
        DeadlineFact("c2", "reply", on_time=True, cancelled=True),  # fell away: not due
        DeadlineFact("c2", "complete", on_time=True),
        DeadlineFact("c3", "reply", breached=True),
        DeadlineFact("c3", "reply", cancelled=True),  # closed after the breach: still late
        DeadlineFact("c3", "investigation", on_time=False),  # the supervisors' clock
        DeadlineFact("c3", "supply_materials", on_time=False),  # the inquirer's side
    ]
    assert deadlines(facts) == (4, 2)
    r = evaluate(2026, None, [], facts).rates
    assert (r.deadlines_due, r.deadlines_on_time, r.on_time_rate) == (4, 2, 0.5)
    assert r.response_rate is None and r.resolution_rate is None
