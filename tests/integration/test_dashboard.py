"""The leaders' dashboard on a real PostgreSQL: cases registered through intake, acted on
through the case repository, projected by the ledger's rebuild; the page shows exactly the
hand-counted figures, to leaders only, each within their scope.

The city (deploy/demo/directory.yaml), all in the centre ZWFWZX, section ZX-ZHSL unless said:
    A  accepted, due in 10 days                        open
    B  accepted, due 3 days ago                        open, overdue
    C  accepted, due 3 days ago, escalated to ZX004    open, overdue, escalated
    D  accepted, due in 10 days, replied, rated 满意, closed       on time, satisfied
    E  accepted, due 3 days ago, replied, rated 不满意              open, late, dissatisfied
    F  accepted, due in 10 days, replied (not rated)                open, on time
    R  registered in RSJ by RSJ008 (section RSJ-SBK)               open
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from events import new_event
from events.case import CaseAccepted
from events.case_outcome import CaseClosed, CaseRated, CaseReplied
from events.case_referral import CaseEscalated
from services.calendar.builtin import today
from services.cases.repository import CaseRepository
from services.common.settings import Settings
from services.dashboard.app import create_app
from services.ledger.rebuild import rebuild_from_store
from services.relay.sequencer import sequence_pass
from tests.integration.intake_helpers import WALK_IN, register

STAFF = {"id": "ZX005", "name": "李娜", "duty": "综合受理窗口工作人员", "contact": "0935-8100105"}


def _act(repo: CaseRepository, url: str, case_id: str, *payloads: Any) -> None:
    with psycopg.connect(url) as conn:
        state = repo.load(case_id, conn)
        events = [new_event(p, subject=case_id, actor="staff:ZX005") for p in payloads]
        repo.append(state, events, conn)
        conn.commit()


def _accepted(due_in_days: int) -> CaseAccepted:
    return CaseAccepted.model_validate({
        "handler": STAFF, "section_id": "ZX-ZHSL", "handling_plan": "按承诺时限办理",
        "time_limit": {"working_days": 5, "due_date": today() + timedelta(days=due_in_days)}})


REPLIED = CaseReplied.model_validate({"answer": "已答复", "channel": "visit"})


def build_city(intake: TestClient, token_for: Any, url: str) -> dict[str, str]:
    """The cases of the module docstring, projected into case_summary; letter -> case id."""
    pool_repo = CaseRepository(intake.app.state.wiring.pool)  # type: ignore[attr-defined]
    ids = {k: register(intake, token_for("ZX005"))["case_id"] for k in "ABCDEF"}
    ids["R"] = register(intake, token_for("RSJ008"), WALK_IN)["case_id"]
    for k, due in {"A": 10, "B": -3, "C": -3, "D": 10, "E": -3, "F": 10}.items():
        _act(pool_repo, url, ids[k], _accepted(due))
    _act(pool_repo, url, ids["C"], CaseEscalated.model_validate({
        "leader": {"id": "ZX004", "role": "section_head", "name": "张晓燕"},
        "reason": "time_limit_breached"}))
    _act(pool_repo, url, ids["D"], REPLIED, CaseRated(level="满意", anonymous=True),
         CaseClosed.model_validate({"reason": "completed"}))
    _act(pool_repo, url, ids["E"], REPLIED, CaseRated(level="不满意", anonymous=False))
    _act(pool_repo, url, ids["F"], REPLIED)
    with psycopg.connect(url, autocommit=True) as conn:
        while sequence_pass(conn):
            pass
    assert rebuild_from_store(url).cases == 7
    return ids


@pytest.fixture
def dashboard(db_settings: Settings):
    with TestClient(create_app(db_settings), follow_redirects=False) as client:
        yield client


@pytest.fixture
def city(intake: TestClient, token_for: Any, database_url: str) -> dict[str, str]:
    return build_city(intake, token_for, database_url)


def figure(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert found, f"#{element_id} is not on the page"
    return found.group(1)


def row(html: str, unit: str, section: str | None = None) -> tuple[int, int, int]:
    where = f'data-unit="{unit}"' + (f' data-section="{section}"' if section is not None else "")
    found = re.search(where + r'>.*?<td class="open">(\d+)</td><td class="overdue">(\d+)</td>'
                      r'<td class="escalated">(\d+)</td>', html, flags=re.S)
    assert found, f"no row {where}"
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def test_the_centre_leader_sees_the_hand_counted_figures_of_every_unit(dashboard, city,
                                                                       token_for):
    r = dashboard.get("/dashboard", headers=token_for("ZX001"))
    assert r.status_code == 200, r.text
    html = r.text
    assert (figure(html, "total-open"), figure(html, "total-overdue"),
            figure(html, "total-escalated")) == ("6", "2", "1")
    assert row(html, "ZWFWZX") == (5, 2, 1)
    assert row(html, "ZWFWZX", "ZX-ZHSL") == (5, 2, 1)
    assert row(html, "RSJ") == (1, 0, 0)
    assert figure(html, "on-time-rate") == "67%"  # D and F on time, E late
    assert figure(html, "satisfaction") == "50%"  # D 满意, E 不满意
    this_week = today() - timedelta(days=today().weekday())
    assert re.search(rf'<tr data-week="{this_week}"><td>{this_week}</td><td>3</td><td>2</td>'
                     r"<td>2</td><td>1</td></tr>", html)
    assert 'id="chart-on-time"' in html and 'data-value="67%"' in html
    assert 'data-series="超期 overdue" data-value="2"' in html
    assert "<script" not in html and "style=" not in html
    listed = re.findall(r'<tr data-case="([^"]+)">', html)
    assert sorted(listed) == sorted([city["B"], city["C"]])  # overdue or escalated, open


def test_a_unit_leader_sees_only_their_unit(dashboard, city, token_for):
    html = dashboard.get("/dashboard", headers=token_for("RSJ004")).text
    assert figure(html, "total-open") == "1"
    assert 'data-unit="ZWFWZX"' not in html and row(html, "RSJ") == (1, 0, 0)
    assert figure(html, "on-time-rate") == "—"


@pytest.mark.parametrize("staff_id", ["ZX005", "RSJ008"])
def test_staff_without_a_leader_role_are_refused(dashboard, city, token_for, staff_id):
    r = dashboard.get("/dashboard", headers=token_for(staff_id))
    assert r.status_code == 403
    assert "Leaders only" in r.text and 'id="total-open"' not in r.text
    assert dashboard.get(f"/dashboard/cases/{city['A']}",
                         headers=token_for(staff_id)).status_code == 403


def test_no_token_goes_to_sign_in_and_a_bad_token_is_refused(dashboard, city):
    r = dashboard.get("/dashboard")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/sign-in"
    r = dashboard.get("/dashboard", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and "refused" in r.text


def test_bad_weeks_is_refused_naming_the_field(dashboard, city, token_for):
    r = dashboard.get("/dashboard?weeks=0", headers=token_for("ZX001"))
    assert r.status_code == 422 and "weeks" in r.text


def test_the_case_page_shows_its_timeline_without_personal_data(dashboard, city, token_for):
    r = dashboard.get(f"/dashboard/cases/{city['C']}", headers=token_for("ZX004"))
    assert r.status_code == 200, r.text
    types = re.findall(r'<li data-type="(\w+)">', r.text)
    assert types == ["received", "accepted", "escalated"]
    assert "李娜 (ZX005)" in r.text and 'id="overdue">是 yes' in r.text
    assert WALK_IN["inquirer_name"] not in r.text and WALK_IN["inquirer_phone"] not in r.text


def test_a_case_outside_the_leaders_scope_is_not_found(dashboard, city, token_for):
    assert dashboard.get(f"/dashboard/cases/{city['A']}",
                         headers=token_for("RSJ004")).status_code == 404
    assert dashboard.get("/dashboard/cases/no-such-case",
                         headers=token_for("ZX001")).status_code == 404


def test_the_development_sign_in_sets_the_cookie(dashboard, city):
    page = dashboard.get("/dashboard/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    r = dashboard.post("/dashboard/sign-in", data={"csrf": csrf.group(1), "staff_id": "ZX001"})
    assert r.status_code == 303 and "shouwen_dashboard=" in r.headers["set-cookie"]
    assert figure(dashboard.get("/dashboard").text, "total-open") == "6"
    bad = dashboard.post("/dashboard/sign-in", data={"csrf": csrf.group(1), "staff_id": "X"})
    assert bad.status_code == 422 and "staff_id" in bad.text
    assert dashboard.post("/dashboard/sign-in", data={"csrf": "forged", "staff_id": "ZX001"}
                          ).status_code == 403


def test_the_ledger_app_serves_the_dashboard_on_its_own_pool(db_settings, city, token_for):
    from services.apps import ledger as ledger_app

    with TestClient(ledger_app(db_settings)) as ledger:
        r = ledger.get("/dashboard", headers=token_for("ZX001"))
        assert r.status_code == 200 and figure(r.text, "total-open") == "6"
        assert ledger.app.state.dashboard.pool is ledger.app.state.wiring.pool  # type: ignore
        assert ledger.get("/dashboard", headers=token_for("ZX005")).status_code == 403


def test_weeks_are_china_weeks_monday_0000_to_sunday_2400(database_url):
    from datetime import date, datetime

    from services.calendar import CIVIL_TIME
    from services.dashboard import queries

    answered = {"late-sunday": datetime(2026, 11, 15, 23, 30, tzinfo=CIVIL_TIME),
                "early-monday": datetime(2026, 11, 16, 0, 30, tzinfo=CIVIL_TIME),
                "before": datetime(2026, 11, 1, 23, 59, tzinfo=CIVIL_TIME)}
    with psycopg.connect(database_url) as conn:
        for case_id, at in answered.items():
            conn.execute(
                "INSERT INTO case_summary (case_id, unit_id, receipt_number, channel, status,"
                " first_responder_id, first_responder_name, responsible_id, responsible_name,"
                " seven_haves, received_at, replied_at, on_time, rating, version, updated_at)"
                " VALUES (%s, 'U', %s, 'visit', 'replied', 'S', 'n', 'S', 'n', '{}', %s, %s,"
                " true, '满意', 1, %s)", (case_id, case_id, at, at, at))
        found = queries.weeks(conn, queries.Scope(None), date(2026, 11, 2))
    assert {d: (w.answered, w.satisfied) for d, w in found.items()} == {
        date(2026, 11, 9): (1, 1), date(2026, 11, 16): (1, 1)}


def test_the_attention_list_walks_the_open_cases_by_due_date(database_url):
    """The first 50 open cases overdue or escalated, oldest due date first, are what a
    look at every case finds; and they are found by walking the partial index (0015),
    not by ranking every case."""
    from datetime import date, timedelta

    from services.dashboard import queries
    from services.record import board  # the owner of case_summary: the query's text

    today = date(2026, 11, 27)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO case_summary (case_id, unit_id, receipt_number, channel, status,"
            " first_responder_id, first_responder_name, responsible_id, responsible_name,"
            " due_date, overdue, escalated, seven_haves, received_at, replied_at, version,"
            " updated_at)"
            " SELECT 'C-' || n, 'U' || n %% 3, 'R-' || n, 'visit',"
            " CASE WHEN n %% 4 = 0 THEN 'closed' ELSE 'in_handling' END, 'S', 'n', 'S', 'n',"
            " CASE WHEN n %% 50 <> 7 THEN %(today)s::date + (n * 7919 %% 61 - 30) END,"
            " n %% 37 = 0, n %% 23 = 0, '{}', now() - make_interval(mins => n),"
            " CASE WHEN n %% 3 = 0 THEN now() END, 1, now()"
            " FROM generate_series(1, 20000) AS n", {"today": today})
        conn.execute("ANALYZE case_summary")
        found = queries.needing_attention(conn, queries.Scope(None), today)
        rows = conn.execute(
            "SELECT case_id, due_date, overdue, escalated, replied_at IS NULL, received_at"
            " FROM case_summary WHERE status <> 'closed'").fetchall()
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN " + board._ATTENTION,
            {**queries.Scope(None).params(), "today": today, "limit": 50}))
    late = [(due or date.max, received, case_id) for case_id, due, overdue, escalated,
            unanswered, received in rows
            if overdue or escalated or (due is not None and due < today and unanswered)]
    assert [r["case_id"] for r in found] == [c for *_, c in sorted(late)[:50]]
    assert found[0]["due_date"] == today - timedelta(days=30)
    assert "case_summary_attention_idx" in plan and "Seq Scan" not in plan
