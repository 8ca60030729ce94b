"""Learning from the first responders: outcomes, proposed phrasings, the admin's review, the
report and the exporter's figures, against the real PostgreSQL (routing as its consumer
transaction runs it: Router.handle, no broker; people through the API and the CLI)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from services.cases.repository import CaseRepository
from services.cli import app
from services.common.settings import get_settings
from services.dashboard.exporter import Exporter
from services.dashboard.sources import routing_figures
from services.directory.index import DirectoryIndex
from services.routing.classify import classify
from services.routing.learning import approved
from services.routing.router import Router
from tests.integration.intake_helpers import post, register

VAGUE = {"channel": "phone", "matter": "老人去世后要办哪些手续，电话13912345678",
         "inquirer_name": "王小明", "inquirer_phone": "13912345678"}
CLEAR = {"channel": "phone", "matter": "补办社保卡", "inquirer_name": "李四",
         "inquirer_phone": "13912345679"}


@pytest.fixture
def url(db_settings) -> str:
    return str(db_settings.database_url)


@pytest.fixture
def shouwen(url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["routing", *args])
    get_settings.cache_clear()


def consume(url: str, city: DirectoryIndex, case_id: str) -> None:
    """Routing's consumer handles every event of the case not handled yet (in order)."""
    with ConnectionPool(url, min_size=1, max_size=1) as pool:
        repo, router = CaseRepository(pool), Router(CaseRepository(pool), lambda: city)
        for recorded in repo.store.read_stream(case_id):
            with pool.connection() as conn, conn.transaction():
                done = conn.execute("INSERT INTO inbox (consumer, event_id) VALUES"
                                    " ('routing-test', %s) ON CONFLICT DO NOTHING",
                                    (recorded.event.id,)).rowcount
                if done:
                    router.handle(conn, recorded.event)


def outcome(url: str, case_id: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT outcome, routed_matter, matter_type_code, picks, corrected"
                           " FROM routing_outcomes WHERE case_id = %s", (case_id,)).fetchone()
    assert row is not None
    return tuple(row)


def suggested(intake, token_for, url, city) -> tuple[str, list[dict[str, Any]]]:
    staff = token_for("ZX005")
    case_id = register(intake, staff, VAGUE)["case_id"]
    consume(url, city, case_id)
    return case_id, intake.get(f"/v1/cases/{case_id}", headers=staff).json()[
        "matter_suggestions"]


def test_a_pick_updates_the_outcome_and_proposes_the_words(intake, token_for, url,
                                                          demo_directory, shouwen):
    city = DirectoryIndex(demo_directory, 1)
    case_id, suggestions = suggested(intake, token_for, url, city)
    best = suggestions[0]["matter_type_code"]
    assert outcome(url, case_id) == ("suggested", best, None, 0, False)
    second = suggestions[1]["matter_type_code"]
    assert post(intake, case_id, "matter", {"matter_type_code": second},
                token_for("ZX005")).status_code == 200
    consume(url, city, case_id)
    consume(url, city, case_id)  # a redelivery changes nothing
    assert outcome(url, case_id) == ("suggested", best, second, 1, True)  # not routing's first

    listed = shouwen("examples", "list")
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.output.splitlines() if case_id in x)
    assert second in line and "老人去世后要办哪些手续" in line
    assert "13912345678" not in listed.output  # the phone number is blanked


def test_only_an_admin_approves_and_then_the_classifier_uses_it(intake, token_for, url,
                                                               demo_directory, shouwen):
    city = DirectoryIndex(demo_directory, 1)
    staff = token_for("ZX005")
    # 厝 (a house, in Minnan speech): a word neither the catalogue nor the vocabulary knows
    words = {**VAGUE, "matter": "旧厝翻起洋楼要批吗"}
    case_id = register(intake, staff, words)["case_id"]
    consume(url, city, case_id)
    assert classify(words["matter"], city).matter_code != "ZRJ-06"
    r = post(intake, case_id, "matter", {"matter_type_code": "ZRJ-06", "reason": "农村翻建住房"},
             staff)
    assert r.status_code == 200, r.text
    consume(url, city, case_id)
    with psycopg.connect(url) as conn:
        (example_id,) = conn.execute("SELECT id FROM routing_examples WHERE case_id = %s",
                                     (case_id,)).fetchone() or (None,)
        assert approved(conn) == ()
    refused = shouwen("examples", "approve", str(example_id), "--by", "ZX005")
    assert refused.exit_code == 1 and "admin" in refused.output
    ok = shouwen("examples", "approve", str(example_id), "--by", "ADMIN01")
    assert ok.exit_code == 0, ok.output
    again = shouwen("examples", "reject", str(example_id), "--by", "ADMIN01")
    assert again.exit_code == 1  # decided once
    with psycopg.connect(url) as conn:
        learned = approved(conn)
    assert learned == (("ZRJ-06", "旧厝翻起洋楼要批吗"),)
    c = classify("旧厝翻起洋楼", city, learned)
    assert c.clear and c.matter_code == "ZRJ-06"


def test_a_directory_that_does_not_opt_in_proposes_nothing(intake, token_for, url,
                                                           demo_directory):
    city = DirectoryIndex(demo_directory.model_copy(update={"learn_from_corrections": False}), 1)
    case_id, suggestions = suggested(intake, token_for, url, city)
    post(intake, case_id, "matter", {"matter_type_code": suggestions[0]["matter_type_code"]},
         token_for("ZX005"))
    consume(url, city, case_id)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM routing_examples").fetchone() == (0,)
    assert outcome(url, case_id)[3:] == (1, False)  # a pick of routing's first: no correction


def test_the_report_and_the_exporter_count_unclear_and_corrected(intake, token_for, url,
                                                                 demo_directory, shouwen):
    city = DirectoryIndex(demo_directory, 1)
    staff = token_for("ZX005")
    clear_id = register(intake, staff, CLEAR)["case_id"]
    consume(url, city, clear_id)
    case_id, _ = suggested(intake, token_for, url, city)
    post(intake, case_id, "matter", {"matter_type_code": "RSJ-SBK-03", "reason": "其实是补卡"},
         staff)
    consume(url, city, case_id)
    with psycopg.connect(url) as conn:
        assert routing_figures(conn) == {"RSJ": (2, 1, 1)}
    exporter = Exporter(url, None)
    exporter.refresh()
    exposed = {(m.name, s.labels.get("unit")): s.value
               for m in exporter.collect() for s in m.samples if m.name.startswith("shouwen_rout")}
    assert exposed == {("shouwen_routing_cases", "RSJ"): 2,
                       ("shouwen_routing_unclear_cases", "RSJ"): 1,
                       ("shouwen_routing_corrected_cases", "RSJ"): 1}
    r = shouwen("report")
    assert r.exit_code == 0, r.output
    row = next(x for x in r.output.splitlines() if x.startswith("RSJ-SBK-03\t"))
    assert row.split("\t")[1:] == ["RSJ", "2", "1", "50%", "1", "50%"]
    assert "accuracy proxy (never corrected) 50.0%" in r.output
    by_unit = shouwen("report", "--by", "unit")
    assert "RSJ\t2\t1\t50%\t1\t50%" in by_unit.output
    assert shouwen("report", "--since", "soon").exit_code == 2


def test_a_batch_records_one_outcome_per_routed_case(intake, token_for, url, demo_directory):
    city = DirectoryIndex(demo_directory, 1)
    staff = token_for("ZX005")
    ids = [register(intake, staff, body)["case_id"] for body in
           (CLEAR, VAGUE, {**CLEAR, "matter": "阿巴阿巴啦啦"})]
    with ConnectionPool(url, min_size=1, max_size=1) as pool:
        repo = CaseRepository(pool)
        received = [repo.store.read_stream(case_id)[0].event for case_id in ids]
        with pool.connection() as conn, conn.transaction():
            Router(repo, lambda: city).handle_batch(conn, received)
    assert [outcome(url, case_id)[:3] for case_id in ids] == [
        ("classified", "RSJ-SBK-03", "RSJ-SBK-03"),
        ("suggested", outcome(url, ids[1])[1], None),
        ("escalated", None, None)]


def test_a_handler_accepting_under_another_matter_is_a_correction(intake, token_for, url,
                                                                   demo_directory):
    from datetime import date

    from events import new_event
    from events.case import CaseAccepted, TimeLimit
    from events.fields import StaffMember

    city = DirectoryIndex(demo_directory, 1)
    case_id = register(intake, token_for("ZX005"), CLEAR)["case_id"]
    consume(url, city, case_id)
    assert outcome(url, case_id) == ("classified", "RSJ-SBK-03", "RSJ-SBK-03", 0, False)
    handler = StaffMember(id="RSJ008", name="谢丹丹", duty="社保卡经办", contact="0935-1")
    limit = TimeLimit(working_days=0, due_date=date(2026, 12, 7))
    with ConnectionPool(url, min_size=1, max_size=1) as pool:
        router = Router(CaseRepository(pool), lambda: city)
        for code in ("RSJ-SBK-03", "RSJ-SBK-02"):  # the same matter first: no correction
            accepted = new_event(CaseAccepted(handler=handler, time_limit=limit,
                                              matter_type_code=code),
                                 subject=case_id, actor="staff:RSJ008")
            with pool.connection() as conn, conn.transaction():
                router.handle_batch(conn, [accepted])
            if code == "RSJ-SBK-03":
                assert outcome(url, case_id)[4] is False
    assert outcome(url, case_id) == ("classified", "RSJ-SBK-03", "RSJ-SBK-02", 0, True)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT matter_type_code, phrase FROM routing_examples"
                            " WHERE case_id = %s", (case_id,)).fetchall() == [
            ("RSJ-SBK-02", "补办社保卡")]
