"""The notification service's pure parts: who is told what, by which channel, in which
language; the templates; rate limits, daily caps and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from jinja2 import UndefinedError

from events import new_event
from events.case import CaseReceived, OneTimeNoticeGiven
from events.notification import NotifyChannel, RecipientKind
from events.personal import mask_event_data
from services.notification.channels import HttpChannel, Outgoing
from services.notification.limits import Limits, Usage, admit, gives_up, retry_delay
from services.notification.render import LANGUAGES, Renderer
from services.notification.rules import CaseFacts, Options, plan, triggers

RECEIVED = {
    "channel": "window", "receipt_number": "SW20261126000001", "unit_id": "ZWFWZX",
    "matter": "咨询养老保险补缴", "inquirer_name": "张三", "inquirer_phone": "13800000000",
    "inquirer_email": "zhangsan@example.cn", "first_responder_id": "ZX005",
    "first_responder_name": "李娜", "first_responder_duty": "综合受理窗口",
    "first_responder_contact": "0935-8100105",
}
STAFF = {"id": "ZX006", "name": "王强", "duty": "窗口", "contact": "0935-8100106"}
NOTICE = {
    "missing_materials": [
        {"name": "身份证复印件", "requirements": "正反面，A4", "form": None},
        {"name": "户口簿", "requirements": None, "form": None},
        {"name": "补缴申请表", "requirements": None, "form": "表SB-1"},
    ],
    "requirements": "原件核验后退还", "forms": [{"name": "表SB-1", "where": "一楼3号窗口"}],
    "notified_via": "window", "request_changed": False,
}


def facts(**changes: object) -> CaseFacts:
    return CaseFacts.from_received("C-1", {**RECEIVED, **changes})


def test_receipt_goes_to_the_inquirers_email_when_known():
    [intent] = plan("shouwen.case.received.v1", RECEIVED, facts())
    assert (intent.recipient, intent.channel, intent.template) == (
        "inquirer", NotifyChannel.email, "inquirer/receipt")
    assert intent.address == "zhangsan@example.cn" and intent.language == "zh-CN"


def test_inquirer_without_email_gets_an_sms_and_without_either_nothing():
    [sms] = plan("shouwen.case.received.v1", RECEIVED, facts(inquirer_email=None))
    assert sms.channel is NotifyChannel.sms and sms.address == "13800000000"
    assert plan("shouwen.case.received.v1", RECEIVED,
                facts(inquirer_email=None, inquirer_phone=None)) == []


def test_inquirer_language_defaults_to_zh_cn_and_follows_the_received_event():
    assert facts().language == "zh-CN"
    assert facts(inquirer_language="en").language == "en"


def test_internal_referral_tells_the_inquirer_and_asks_the_handler_to_accept():
    data = {"referral": {"kind": "internal", "section_id": "S1", "section_name": "养老股",
                         "handler": STAFF, "unit_id": None, "handler_present": True},
            "reason": None}
    intents = plan("shouwen.case.referred.v1", data, facts(), Options(staff_email=True))
    assert {(i.recipient, i.channel, i.template) for i in intents} == {
        ("inquirer", NotifyChannel.email, "inquirer/referral"),
        ("staff:ZX006", NotifyChannel.in_app, "staff/handoff"),
        ("staff:ZX006", NotifyChannel.email, "staff/handoff"),
    }


def test_leaders_get_in_app_and_sms_and_the_webhook_when_configured():
    data = {"leader": {"id": "ZX001", "role": "principal_leader", "name": None},
            "reason": "complaint", "details": None, "ladder_step": None}
    plain = plan("shouwen.case.escalated.v1", data, facts())
    assert {(i.recipient_kind, i.channel) for i in plain} == {
        (RecipientKind.leader, NotifyChannel.in_app), (RecipientKind.leader, NotifyChannel.sms)}
    hooked = plan("shouwen.case.escalated.v1", data, facts(), Options(webhook=True))
    assert NotifyChannel.webhook in {i.channel for i in hooked}


def test_approval_needed_goes_to_whom_it_was_asked_of_else_the_principal_leader():
    asked = {"reason": "材料待补", "proposed_due_date": "2026-12-10",
             "asked_of": {"id": "ZX002", "role": "supervising_leader", "name": None}}
    assert {i.recipient for i in plan("shouwen.case.extension_requested.v1", asked, facts())} \
        == {"leader:ZX002"}
    unasked = {**asked, "asked_of": None}
    options = Options(principal_leader="ZX001")
    assert {i.recipient for i in plan("shouwen.case.transfer_requested.v1", unasked, facts(),
                                      options)} == {"leader:ZX001"}
    assert plan("shouwen.case.transfer_requested.v1", unasked, facts()) == []


def test_only_the_facts_that_concern_someone_trigger_messages():
    assert triggers("shouwen.case.deadline_warned.v1")
    assert not triggers("shouwen.case.classified.v1")
    assert not triggers("shouwen.case.notification_sent.v1")  # never a loop


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_renders_in_both_languages(language):
    renderer = Renderer()
    samples = sample_contexts()
    assert set(renderer.names()) == set(samples)
    for name, context in samples.items():
        rendered = renderer.render(name, language, context)
        assert rendered.subject and rendered.body, name
        assert "SW20261126000001" in rendered.subject + rendered.body, name


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_one_time_notice_lists_every_missing_material(language):
    rendered = Renderer().render("inquirer/one_time_notice", language, sample_contexts()[
        "inquirer/one_time_notice"])
    for material in ("身份证复印件", "户口簿", "补缴申请表", "正反面，A4", "表SB-1", "一楼3号窗口",
                     "原件核验后退还"):
        assert material in rendered.body


def test_the_receipt_names_the_first_responder_duty_and_contact():
    body = Renderer().render("inquirer/receipt", "en", sample_contexts()["inquirer/receipt"]).body
    assert "李娜" in body and "综合受理窗口" in body and "0935-8100105" in body


def test_a_template_naming_a_missing_value_fails_loudly(tmp_path):
    (tmp_path / "en" / "inquirer").mkdir(parents=True)
    (tmp_path / "en" / "inquirer" / "receipt.txt").write_text("Hi {{ case.no_such_field }}\n\nx")
    with pytest.raises(UndefinedError):
        Renderer(tmp_path).render("inquirer/receipt", "en", sample_contexts()["inquirer/receipt"])
    with pytest.raises(ValueError, match="language"):
        Renderer().render("inquirer/receipt", "fr", {})


def test_the_recipient_is_rate_limited_and_deferred_not_dropped():
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    limits = Limits(3, {NotifyChannel.sms: 100})
    assert admit(NotifyChannel.sms, Usage(2, now, 0), limits, now) is None
    oldest = now - timedelta(minutes=50)
    assert admit(NotifyChannel.sms, Usage(3, oldest, 0), limits, now) == oldest + timedelta(hours=1)
    assert admit(NotifyChannel.in_app, Usage(99, oldest, 999), limits, now) is None


def test_the_daily_cap_defers_to_the_citys_next_midnight():
    now = datetime(2026, 11, 26, 17, tzinfo=UTC)  # 01:00 on the 27th in Beijing
    later = admit(NotifyChannel.sms, Usage(0, None, 100), Limits(3, {NotifyChannel.sms: 100}), now)
    assert later == datetime(2026, 11, 27, 16, tzinfo=UTC)


def test_retries_back_off_exponentially_up_to_a_ceiling_then_give_up():
    assert [retry_delay(a, 2.0, 30.0) for a in range(1, 6)] == [2.0, 4.0, 8.0, 16.0, 30.0]
    assert not gives_up(4, 5) and gives_up(5, 5)


def test_message_id_and_idempotency_key_are_the_same_for_every_attempt():
    a = Outgoing("e1/inquirer/email", "x@example.cn", "s", "b")
    b = Outgoing("e1/inquirer/email", "x@example.cn", "s2", "b2")
    assert a.message_id == b.message_id and a.idempotency_key == b.idempotency_key
    assert a.message_id != Outgoing("e1/inquirer/sms", "x", "s", "b").message_id


def test_outcome_events_mask_the_address_and_the_message():
    data = {"source_event_id": "e1", "recipient_kind": "inquirer", "channel": "sms",
            "address": "13800000000", "template": "inquirer/receipt", "language": "zh-CN",
            "attempts": 1, "message": "张三，您好", "subject": "回执"}
    masked = mask_event_data("shouwen.case.notification_sent.v1", data)
    assert masked["address"] == "138****0000" and "张三" not in masked["message"]


def test_the_webhook_body_is_signed():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"id": "w-1"})

    hook = HttpChannel("http://hooks.example/x", secret="s3cret",
                       transport=httpx.MockTransport(answer))
    assert hook.send(Outgoing("e4/leader:ZX001/webhook", "http://hooks.example/x", "s", "b")) \
        == "w-1"
    expected = hmac.new(b"s3cret", seen[0].content, hashlib.sha256).hexdigest()
    assert seen[0].headers["x-shouwen-signature"] == f"sha256={expected}"


def sample_contexts() -> dict[str, dict]:
    """A context per template, made from real payloads (so the templates meet the contract)."""
    received = new_event(CaseReceived.model_validate(RECEIVED), subject="C-1", actor="staff:ZX005")
    notice = OneTimeNoticeGiven.model_validate(NOTICE).model_dump(mode="json")
    case = facts().context()
    leader = {"id": "ZX001", "role": "principal_leader", "name": "周卫东"}
    events = {
        "inquirer/receipt": received.data, "inquirer/one_time_notice": notice,
        "inquirer/referral": {"referral": {"kind": "external", "body_name": "市医保局",
                                           "address": "新华路1号", "contact_phone": "0935-1",
                                           "contact_person": "赵六", "body_id": None,
                                           "case_forwarded": False}, "reason": "医保事项"},
        "inquirer/extension": {"approver": leader, "new_due_date": "2026-12-10",
                               "reason": "需外单位协查"},
        "inquirer/new_responsible": {"approver": leader, "previous_responsible_id": "ZX005",
                                     "new_responsible": STAFF},
        "inquirer/result": {"outcome": "resolved", "summary": "已为您办理补缴"},
        "inquirer/rating_invitation": {"method": "email", "recipient_name": "张三",
                                       "recipient_contact": None, "pickup_record": None},
        "staff/assignment": {"handler": STAFF, "section_id": None, "on_the_spot": False,
                             "handling_plan": None, "time_limit": {
                                 "working_days": 3, "due_date": "2026-12-01", "basis": None}},
        "staff/handoff": {"handler": STAFF, "section_id": None},
        "staff/materials_supplied": {"materials": ["身份证复印件"], "outstanding": ["户口簿"],
                                     "complete": False, "note": "已扫描上传",
                                     "attachments": ["DOC-1"], "check_by_id": "ZX006"},
        "staff/deadline_warning": {"obligation": "complete", "due_at": "2026-12-01T10:00:00Z",
                                   "responsible_id": "ZX006", "working_days_left": 1},
        "staff/deadline_breached": {"obligation": "complete", "due_at": "2026-12-01T10:00:00Z",
                                    "responsible_id": "ZX006"},
        "leader/escalation": {"leader": leader, "reason": "complaint", "details": "群众投诉",
                              "ladder_step": 1},
        "leader/approval_needed": {"reason": "需外单位协查", "proposed_due_date": "2026-12-10",
                                   "asked_of": None},
    }
    contexts = {name: {"case": case, "event": data, "recipient": {"name": "张三", "id": None}}
                for name, data in events.items()}
    contexts["leader/digest"] = {  # a leader's pending SMS in one message
        "case": case, "event": events["leader/escalation"], "recipient": {"name": "张三"},
        "items": [{**contexts["leader/escalation"], "template": "leader/escalation"}] * 12}
    return contexts
