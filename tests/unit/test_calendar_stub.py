"""The stand-in working-day rule (Mon-Fri) until the official calendar replaces it."""

from __future__ import annotations

from datetime import date

import pytest

from services.domain.calendar_stub import add_working_days

FRIDAY, SATURDAY = date(2025, 3, 7), date(2025, 3, 8)


@pytest.mark.parametrize(("start", "n", "due"), [
    (FRIDAY, 0, FRIDAY),
    (FRIDAY, 1, date(2025, 3, 10)),  # over the weekend to Monday
    (SATURDAY, 1, date(2025, 3, 10)),
    (date(2025, 3, 3), 15, date(2025, 3, 24)),  # three whole weeks
])
def test_weekends_are_skipped(start: date, n: int, due: date) -> None:
    assert add_working_days(start, n) == due


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(FRIDAY, -1)
