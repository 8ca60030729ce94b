"""The dashboard's reads of the case summaries: through their owner's query API
(services/record/board.py, over ``case_summary``), turned into the dashboard's figures.

    tallies, needing_attention, summary_of, Scope   services.record.board's
    weeks(conn, scope, since)            {monday: Week} by the week a case was answered

Weeks are Asia/Shanghai weeks (Monday first), like the due dates.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import psycopg

from services.calendar import CIVIL_TIME
from services.dashboard.figures import SATISFIED, Week
from services.record import board
from services.record.board import Scope, needing_attention, summary_of, tallies

__all__ = ["Scope", "needing_attention", "summary_of", "tallies", "weeks"]


def weeks(conn: psycopg.Connection, scope: Scope, since: date) -> dict[date, Week]:
    """{monday: Week} for the weeks from ``since`` (a Monday) on, China time."""
    start = datetime.combine(since, time(), CIVIL_TIME)
    return {since + timedelta(weeks=n): Week(since + timedelta(weeks=n), a, t, r, s)
            for n, a, t, r, s in board.week_rows(conn, scope, start, SATISFIED)}
