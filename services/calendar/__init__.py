"""The working-day calendar (DOMAIN.md section 4): weekends and public holidays off, the
officially announced make-up working days (调休) on; each unit may have its own calendar.

    rules.py          WorkingCalendar, Due, Schedule, CIVIL_TIME       pure
    book.py           CalendarBook (which unit uses which calendar)    pure
    schedule_file.py  the official schedule YAML -> Schedule            pure
    builtin.py        builtin_book(): library rules + packaged schedules
    store.py          load_book(conn), loading and assigning            psycopg
    cache.py          CalendarCache: the book, re-read every few seconds
    metrics.py        shouwen_calendar_year_covered{calendar,year}
    cli.py            shouwen calendar load | assign | show
"""

from services.calendar.book import CalendarBook
from services.calendar.builtin import builtin_book
from services.calendar.rules import CIVIL_TIME, Due, Schedule, WorkingCalendar

__all__ = ["CIVIL_TIME", "CalendarBook", "Due", "Schedule", "WorkingCalendar", "builtin_book"]
