"""Routing's top-3 suggestions and the first responder's choice, through the staff API.

Routing runs as the consumer's transaction does (Router.route, no broker); the rest is HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from services.cases.repository import CaseRepository
from services.directory.index import DirectoryIndex
from services.routing.router import Router
from tests.integration.intake_helpers import events_of, post, register
from tests.integration.test_console import sign_in

VAGUE = {"channel": "phone", "matter": "老人去世后要办哪些手续", "inquirer_name": "王小明",
         "inquirer_phone": "13912345678"}


@pytest.fixture
def url(db_settings) -> str:
    return str(db_settings.database_url)


def routed(url: str, city: DirectoryIndex, case_id: str) -> None:
    with ConnectionPool(url, min_size=1, max_size=1) as pool:
        repo = CaseRepository(pool)
        received = repo.store.read_stream(case_id)[0].event
        with pool.connection() as conn, conn.transaction():
            Router(repo, lambda: city).route(conn, received)


def suggested_case(intake, token_for, url, demo_directory) -> tuple[str, list[dict[str, Any]]]:
    staff = token_for("ZX005")
    case_id = register(intake, staff, VAGUE)["case_id"]
    routed(url, DirectoryIndex(demo_directory, 1), case_id)
    detail = intake.get(f"/v1/cases/{case_id}", headers=staff).json()
    return case_id, detail["matter_suggestions"]


def test_an_unclear_case_shows_routing_top_three_with_scores(intake, token_for, url,
                                                             demo_directory):
    case_id, suggestions = suggested_case(intake, token_for, url, demo_directory)
    assert [e["type"] for e in events_of(url, case_id)] == ["received", "matter_suggested"]
    assert len(suggestions) == 3
    assert {s["matter_type_code"] for s in suggestions} <= {
        "RSJ-YL-04", "GAJ-03", "MZJ-08", "RSJ-YL-02"}  # pension, household register, funeral
    scores = [s["score"] for s in suggestions]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] < 0.5
    assert suggestions[0]["matter_type_name"] and suggestions[0]["handling_unit_id"]


def test_the_first_responder_picks_a_suggestion_and_it_is_recorded(intake, token_for, url,
                                                                  demo_directory):
    case_id, suggestions = suggested_case(intake, token_for, url, demo_directory)
    pick = suggestions[1]["matter_type_code"]
    r = post(intake, case_id, "matter", {"matter_type_code": pick}, token_for("ZX005"))
    assert r.status_code == 200, r.text
    assert r.json()["matter_type_code"] == pick
    chosen = events_of(url, case_id)[-1]
    assert (chosen["type"], chosen["actor"]) == ("matter_chosen", "staff:ZX005")
    assert chosen["data"]["suggested"] is True and chosen["data"]["suggestion_rank"] == 2
    assert chosen["data"]["previous_matter_type_code"] is None
    assert chosen["data"]["matter_type_code"] == pick


def test_a_correction_needs_a_reason_and_records_from_and_to(intake, token_for, url,
                                                            demo_directory):
    case_id, suggestions = suggested_case(intake, token_for, url, demo_directory)
    staff = token_for("ZX005")
    first = suggestions[0]["matter_type_code"]
    assert post(intake, case_id, "matter", {"matter_type_code": first}, staff).status_code == 200
    bare = post(intake, case_id, "matter", {"matter_type_code": "MZJ-08"}, staff)
    assert bare.status_code == 422 and "reason" in bare.text
    r = post(intake, case_id, "matter",
             {"matter_type_code": "MZJ-08", "reason": "来电人问的是火化费减免"}, staff)
    assert r.status_code == 200, r.text
    data = events_of(url, case_id)[-1]["data"]
    assert (data["previous_matter_type_code"], data["matter_type_code"]) == (first, "MZJ-08")
    assert data["suggested"] is False and data["reason"] == "来电人问的是火化费减免"


def test_a_matter_outside_the_catalogue_is_refused(intake, token_for, url, demo_directory):
    case_id, _ = suggested_case(intake, token_for, url, demo_directory)
    r = post(intake, case_id, "matter", {"matter_type_code": "NO-SUCH-1", "reason": "试试"},
             token_for("ZX005"))
    assert r.status_code == 422 and "NO-SUCH-1" in r.text
    assert events_of(url, case_id)[-1]["type"] == "matter_suggested"


def test_the_console_shows_the_suggestions_and_records_the_pick(intake, token_for, url,
                                                                demo_directory):
    case_id, suggestions = suggested_case(intake, token_for, url, demo_directory)
    csrf = sign_in(intake, "ZX005")
    page = intake.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    assert 'id="matter-suggestions"' in page.text and 'id="action-matter"' in page.text
    for s in suggestions:
        assert s["matter_type_code"] in page.text
        assert f"{s['score'] * 100:.0f}%" in page.text
    version = intake.get(f"/v1/cases/{case_id}", headers=token_for("ZX005")).json()["version"]
    pick = suggestions[0]["matter_type_code"]
    r = intake.post(f"/console/cases/{case_id}/matter", follow_redirects=False, data={
        "csrf": csrf, "expected_version": str(version), "matter_type_code": pick,
        "matter_other": "", "reason": ""})
    assert r.status_code == 303, r.text
    chosen = events_of(url, case_id)[-1]
    assert (chosen["type"], chosen["actor"]) == ("matter_chosen", "staff:ZX005")
    assert chosen["data"]["suggestion_rank"] == 1
    after = intake.get(f"/console/cases/{case_id}").text
    assert 'id="matter-suggestions"' not in after and "选定事项" in after
