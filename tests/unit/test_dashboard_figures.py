"""The dashboard's pure parts: figures per unit and week, SVG charts, consumer lag."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date

from services.dashboard.charts import bar_chart, line_chart
from services.dashboard.figures import (
    NO_SECTION,
    Tally,
    Week,
    fill_weeks,
    group_units,
    is_overdue,
    percent,
    week_starts,
)
from services.dashboard.lag import LagRow, lag_rows, merge, tally_dead_letters

SVG = "{http://www.w3.org/2000/svg}"


def test_a_units_tally_is_the_sum_of_its_sections_including_cases_without_one():
    units = group_units([("U1", "S2", 2, 1, 0), ("U1", None, 1, 0, 1), ("U0", "S9", 4, 0, 0),
                         ("U1", "S1", 3, 2, 1)], {"U1": "Unit one"}, {"S1": "Sec one"})
    assert [u.unit_id for u in units] == ["U0", "U1"]
    one = units[1]
    assert one.name == "Unit one" and one.tally == Tally(6, 3, 2)
    assert [(s.section_id, s.name) for s in one.sections] == [("S1", "Sec one"), ("S2", "S2"),
                                                             (None, NO_SECTION)]
    assert units[0].name == "U0"  # a unit the directory no longer names keeps its id


def test_weeks_are_mondays_oldest_first_and_empty_weeks_are_gaps_not_zeros():
    starts = week_starts(date(2026, 11, 26), 3)  # a Thursday
    assert starts == [date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23)]
    weeks = fill_weeks({date(2026, 11, 16): Week(date(2026, 11, 16), 4, 3, 2, 1)}, starts)
    assert [w.on_time_rate for w in weeks] == [None, 0.75, None]
    assert [w.satisfaction for w in weeks] == [None, 0.5, None]
    assert [percent(w.on_time_rate) for w in weeks] == ["—", "75%", "—"]


def test_overdue_is_a_recorded_breach_or_unanswered_past_the_due_date():
    day = date(2026, 11, 26)
    past, due_today = date(2026, 11, 25), day
    assert is_overdue(closed=False, breached=False, due_date=past, answered=False, today=day)
    assert not is_overdue(closed=False, breached=False, due_date=due_today, answered=False,
                          today=day)
    assert not is_overdue(closed=False, breached=False, due_date=past, answered=True, today=day)
    assert is_overdue(closed=False, breached=True, due_date=None, answered=True, today=day)
    assert not is_overdue(closed=True, breached=True, due_date=past, answered=False, today=day)


def test_the_line_chart_draws_known_weeks_and_leaves_gaps():
    svg = line_chart([("11-02", 0.5), ("11-09", None), ("11-16", 1.0), ("11-23", 0.25)],
                     chart_id="c", label="on time <rate>")
    root = ET.fromstring(str(svg))
    assert root.get("id") == "c" and root.find(f"{SVG}title").text == "on time <rate>"
    dots = root.findall(f"{SVG}circle")
    assert [(d.get("data-week"), d.get("data-value")) for d in dots] == [
        ("11-02", "50%"), ("11-16", "100%"), ("11-23", "25%")]
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 1 and len(lines[0].get("points", "").split()) == 2  # the gap splits
    ys = [float(d.get("cy", "nan")) for d in dots]
    assert ys[1] < ys[0] < ys[2]  # 100% highest, 25% lowest


def test_the_bar_chart_prints_every_count_and_escapes_names():
    svg = bar_chart([("<Unit & co>", (3, 1, 0)), ("B", (6, 0, 2))], ("open", "overdue", "esc"),
                    chart_id="bars", label="per unit")
    root = ET.fromstring(str(svg))
    bars = root.findall(f"{SVG}rect[@data-value]")
    assert [(b.get("data-series"), b.get("data-value")) for b in bars] == [
        ("open", "3"), ("overdue", "1"), ("esc", "0"), ("open", "6"), ("overdue", "0"),
        ("esc", "2")]
    widths = [float(b.get("width", "0")) for b in bars]
    assert widths[3] == max(widths) and widths[3] == 2 * widths[0]
    assert "&lt;Unit &amp; co&gt;" in str(svg) and "style=" not in str(svg)


def test_lag_is_end_minus_committed_per_partition_never_negative():
    ends = {("ev", 0): 10, ("ev", 1): 5, ("ev", 2): 0, ("dl", 0): 7}
    committed = {"routing": {("ev", 0): 4, ("ev", 1): 9}, "ledger": {("ev", 2): 0}}
    assert lag_rows(ends, committed) == [
        LagRow("ledger", "ev", 0, 10), LagRow("ledger", "ev", 1, 5), LagRow("ledger", "ev", 2, 0),
        LagRow("routing", "ev", 0, 6), LagRow("routing", "ev", 1, 0),
        LagRow("routing", "ev", 2, 0)]


def test_merged_offsets_keep_the_higher_position():
    merged = merge({"a": {("t", 0): 5}}, {"a": {("t", 0): 3, ("t", 1): 2}, "b": {("t", 0): 1}})
    assert merged == {"a": {("t", 0): 5, ("t", 1): 2}, "b": {("t", 0): 1}}


def test_dead_letters_are_tallied_by_consumer_and_reason():
    tally = tally_dead_letters([
        [("dlq_consumer", b"routing"), ("dlq_reason", b"handler-failed")],
        [("dlq_reason", b"undecodable"), ("dlq_consumer", b"routing"), ("ce_id", b"x")],
        [("dlq_consumer", b"routing"), ("dlq_reason", b"handler-failed")],
        [],
    ])
    assert tally == Counter({("routing", "handler-failed"): 2, ("routing", "undecodable"): 1,
                             ("unknown", "unknown"): 1})
