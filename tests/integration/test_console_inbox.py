"""The in-app inbox and the navigation by role, through the real pages.

The inbox rows come from the notification service's real code path (planner + sender, see
test_console_deadlines.Services): a walk-in left alone past its deadlines gives the first
responder ZX005 four in-app messages (two warnings, two breaches) and each leader on the
ladder two escalations.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from services.intake.routes import console_nav
from tests.integration.test_console import csrf_of, sign_in
from tests.integration.test_console_deadlines import breached_case, services  # noqa: F401

_COUNT = re.compile(r'id="unread-count"[^>]*>(\d+)<')


def unread_in_nav(page: str) -> int:
    found = _COUNT.search(page)
    return int(found.group(1)) if found else 0


def inbox_rows(url: str, staff_id: str) -> list[tuple[int, bool]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, read_at IS NOT NULL FROM staff_inbox WHERE staff_id = %s"
                            " ORDER BY id", (staff_id,)).fetchall()
    return [(int(i), bool(r)) for i, r in rows]


def message_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="message (?:un)?read" id="message-(\d+)"', page)]


def test_the_navigation_counts_unread_messages_and_the_inbox_lists_them(
        intake, services, database_url):  # noqa: F811
    case_id = breached_case(intake, services)
    assert unread_in_nav(intake.get("/console/cases").text) == 4
    page = intake.get("/console/inbox").text
    assert len(message_ids(page)) == 4 and page.count('class="message unread"') == 4
    assert page.count(f'href="/console/cases/{case_id}">SW') == 4
    assert "【超时警示】" in page and "【临期提醒】" in page
    assert sorted(message_ids(page)) == [i for i, _ in inbox_rows(database_url, "ZX005")]


def test_marking_one_message_read_touches_that_row_only(intake, services, database_url):  # noqa: F811
    breached_case(intake, services)
    page = intake.get("/console/inbox").text
    first = message_ids(page)[0]
    r = intake.post("/console/inbox/read", data={"csrf": csrf_of(page),
                                                  "message_id": str(first)},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/inbox?done=1"
    assert {i for i, read in inbox_rows(database_url, "ZX005") if read} == {first}
    page = intake.get(r.headers["location"]).text
    assert unread_in_nav(page) == 3 and f'<tr class="message read" id="message-{first}"' in page
    assert "已标记为已读" in page
    unread_only = intake.get("/console/inbox?unread=true").text
    assert first not in message_ids(unread_only) and len(message_ids(unread_only)) == 3


def test_mark_all_read_clears_the_count(intake, services, database_url):  # noqa: F811
    breached_case(intake, services)
    page = intake.get("/console/inbox").text
    r = intake.post("/console/inbox/read", data={"csrf": csrf_of(page), "all": "true"})
    assert r.status_code == 200 and unread_in_nav(r.text) == 0
    assert all(read for _, read in inbox_rows(database_url, "ZX005"))
    assert not any(read for _, read in inbox_rows(database_url, "ZX004"))  # others' untouched


@pytest.mark.parametrize("form, code, says", [
    ({"message_id": "abc"}, 422, "message_id: 须为消息编号"),
    ({"message_id": ""}, 422, "message_id"),
    ({"message_id": "１２"}, 422, "message_id"),  # full-width digits are not a number here
    ({"message_id": "99999999"}, 404, "No such message in your inbox"),
])
def test_a_bad_or_foreign_message_id_is_refused_and_marks_nothing(
        intake, services, database_url, form: dict[str, Any], code: int, says: str):  # noqa: F811
    breached_case(intake, services)
    page = intake.get("/console/inbox").text
    r = intake.post("/console/inbox/read", data={"csrf": csrf_of(page), **form})
    assert r.status_code == code and says in r.text
    assert not any(read for _, read in inbox_rows(database_url, "ZX005"))


def test_another_persons_message_and_a_missing_csrf_are_refused(intake, services, database_url):  # noqa: F811
    breached_case(intake, services)
    [(leaders, _), *_] = inbox_rows(database_url, "ZX004")
    page = intake.get("/console/inbox").text  # signed in as ZX005
    r = intake.post("/console/inbox/read", data={"csrf": csrf_of(page),
                                                  "message_id": str(leaders)})
    assert r.status_code == 404
    mine = message_ids(page)[0]
    r = intake.post("/console/inbox/read", data={"message_id": str(mine)})
    assert r.status_code == 403
    assert not any(read for _, read in inbox_rows(database_url, "ZX005"))
    assert not any(read for _, read in inbox_rows(database_url, "ZX004"))


def nav_of(page: str) -> str:
    found = re.search(r"<nav>.*?</nav>", page, re.S)
    assert found, "no navigation"
    return found.group(0)


@pytest.mark.parametrize("staff_id, leader, supervisor, dashboard", [
    ("ZX005", False, False, False),  # window staff
    ("ZX004", True, False, True),  # section chief
    ("ZX001", True, False, True),  # principal leader
    ("ZX011", False, True, True),  # supervisor (纪检监察)
    ("ZX013", False, False, True),  # centre admin
])
def test_the_navigation_shows_each_role_its_pages(intake, staff_id, leader, supervisor,
                                                  dashboard):
    sign_in(intake, staff_id)
    nav = nav_of(intake.get("/console/cases").text)
    assert 'href="/console/inbox"' in nav
    assert ('href="/console/leader"' in nav) is leader
    assert ('href="/console/accountability"' in nav) is supervisor
    assert ('href="http://127.0.0.1:8001/dashboard"' in nav) is dashboard
    assert (intake.get("/console/accountability").status_code == 200) is supervisor


def test_the_dashboard_link_follows_the_setting(intake, monkeypatch):
    monkeypatch.setenv("SHOUWEN_CONSOLE_DASHBOARD_URL", "https://dash.example.cn/dashboard")
    console_nav.dashboard_url.cache_clear()
    try:
        sign_in(intake, "ZX004")
        nav = nav_of(intake.get("/console/cases").text)
        assert 'href="https://dash.example.cn/dashboard"' in nav and "8001" not in nav
    finally:
        console_nav.dashboard_url.cache_clear()


def test_the_dashboard_link_is_shown_to_exactly_the_roles_the_dashboard_admits():
    from services.dashboard.routes import LEADER_ROLES

    assert set(console_nav.DASHBOARD_ROLES) == set(LEADER_ROLES)
