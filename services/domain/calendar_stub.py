"""A STAND-IN working-day calendar: Monday to Friday, no public holidays, no make-up days.

DOMAIN.md section 4 says a working day follows the official calendar (weekends and public
holidays off, the announced make-up working days 调休 on). That calendar is a later issue;
until then every due date is computed by ``add_working_days`` here, and only here, so that
replacing this module is the whole change.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# Deadlines are counted in the units' own civil time, not the server's.
CIVIL_TIME = ZoneInfo("Asia/Shanghai")


def today() -> date:
    return datetime.now(CIVIL_TIME).date()


def add_working_days(start: date, n: int) -> date:
    """The date ``n`` working days after ``start`` (Mon-Fri only); 0 is ``start`` itself."""
    if n < 0:
        raise ValueError("n must be >= 0")
    day = start
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day
