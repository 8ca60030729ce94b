"""The inquirer's language for messages: registered through intake, carried on the received
event, used by the notification rules; a language there are no templates for is refused."""

from __future__ import annotations

from services.notification.rules import CaseFacts, plan
from tests.integration.intake_helpers import FIRST, WALK_IN, event_count, events_of, register


def test_the_inquirers_language_is_recorded_and_chooses_the_templates(
        intake, token_for, database_url):
    receipt = register(intake, token_for(FIRST), {**WALK_IN, "inquirer_language": "en",
                                                  "inquirer_email": "wang@example.cn"})
    [received] = [e for e in events_of(database_url, receipt["case_id"])
                  if e["type"] == "received"]
    assert received["data"]["inquirer_language"] == "en"
    facts = CaseFacts.from_received(receipt["case_id"], received["data"])
    [intent] = plan("shouwen.case.received.v1", received["data"], facts)
    assert intent.language == "en" and intent.address == "wang@example.cn"


def test_without_a_language_messages_are_in_chinese(intake, token_for, database_url):
    receipt = register(intake, token_for(FIRST))
    [received] = [e for e in events_of(database_url, receipt["case_id"])
                  if e["type"] == "received"]
    assert CaseFacts.from_received(receipt["case_id"], received["data"]).language == "zh-CN"


def test_a_language_without_templates_is_refused_naming_the_field(intake, token_for,
                                                                  database_url):
    before = event_count(database_url)
    r = intake.post("/v1/cases", json={**WALK_IN, "inquirer_language": "fr"},
                    headers=token_for(FIRST))
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][:2] == [
        "body", "inquirer_language"]
    assert event_count(database_url) == before
