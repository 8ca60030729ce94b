"""The repeat-violation ladder is enforced (issue 14, item 5; DOMAIN.md section 5).

1st → criticism and apology, 2nd → circulated criticism, 3rd and more → efficiency warning
or transfer (removal from the post). A decision naming another sanction is refused (422,
naming the field) unless it records the reason: a mitigating circumstance for a lighter one,
an aggravating one for a heavier one, and a circumstances_note. Over HTTP, real PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.integration.intake_helpers import FIRST, event_count
from tests.integration.test_accountability_api import (
    complained_case,
    decide,
    ok,
    to_investigation,
)
from tests.integration.test_accountability_api import url as url  # noqa: F401 (fixture)


def direct(sanction: str, **more: Any) -> list[dict[str, Any]]:
    return [{"staff_id": FIRST, "kind": "direct", "sanction": sanction, **more}]


def procedure(intake: TestClient, token_for: Any) -> str:
    return to_investigation(intake, token_for, complained_case(intake, token_for))


def test_a_third_violation_takes_an_efficiency_warning_or_transfer_not_an_apology(
        intake: TestClient, token_for: Any, url: str) -> None:
    for _ in range(2):  # the 1st and 2nd violations, as proposed
        ok(decide(intake, token_for, procedure(intake, token_for)))
    third = procedure(intake, token_for)
    before = event_count(url)

    r = decide(intake, token_for, third, responsibilities=direct("criticism_and_apology"))
    assert r.status_code == 422, r.text
    problem = str(r.json()["detail"])
    assert "responsibilities.0.sanction" in problem and "3rd violation" in problem
    assert "efficiency_warning or removal_from_post" in problem
    # a mitigating circumstance without the reason written down is not enough
    r = decide(intake, token_for, third, responsibilities=direct(
        "criticism_and_apology", mitigating=["rules_silent"]))
    assert r.status_code == 422 and "circumstances_note" in str(r.json()["detail"])
    assert event_count(url) == before

    view = ok(intake.get(f"/v1/accountability/{third}", headers=token_for("ZX011")))
    assert view["proposed_responsibilities"][0]["sanction"] == "efficiency_warning"
    decided = ok(decide(intake, token_for, third,
                        responsibilities=direct("removal_from_post")))
    assert [(x["violation_number"], x["sanction"]) for x in decided["responsibilities"]] == [
        (3, "removal_from_post")]


def test_a_deviation_stands_only_with_its_circumstance_and_reason_on_record(
        intake: TestClient, token_for: Any, url: str) -> None:
    first = procedure(intake, token_for)
    r = decide(intake, token_for, first, responsibilities=direct("disciplinary_action"))
    assert r.status_code == 422 and "heavier" in str(r.json()["detail"])
    note = "拒不配合调查，隐匿来访登记"
    decided = ok(decide(intake, token_for, first, responsibilities=direct(
        "disciplinary_action", aggravating=["obstructed_investigation"],
        circumstances_note=note)))
    found = decided["responsibilities"][0]
    assert (found["violation_number"], found["sanction"], found["aggravating"],
            found["circumstances_note"]) == (1, "disciplinary_action",
                                             ["obstructed_investigation"], note)
