"""One valid payload per case event type, shared by the event contract tests.

The inquirer's personal data used here is listed in ``PERSONAL_VALUES`` so the masking
tests can prove none of it survives ``mask_event_data``.
"""

from __future__ import annotations

from typing import Any

import events
from events import registered_types

STAFF = {"id": "S1002", "name": "李明", "duty": "社保窗口经办", "contact": "0935-1234567"}
LEADER = {"id": "L01", "role": "supervising_leader", "name": "王局长"}
PERSONAL_VALUES = {
    "张三", "13800000000", "甘肃省武威市凉州区东大街1号", "武威市第一中学",
    "62010219800101123X", "zhangsan@example.cn", "张小三", "62010219900101002X",
}

SAMPLES: dict[str, dict[str, Any]] = {
    "shouwen.case.received.v1": {
        "channel": "window", "receipt_number": "WW-2026-000123", "unit_id": "wuwei-rsj",
        "matter": "咨询养老保险补缴", "inquirer_name": "张三", "inquirer_phone": "13800000000",
        "inquirer_address": "甘肃省武威市凉州区东大街1号", "inquirer_work_unit": "武威市第一中学",
        "first_responder_id": "S1001", "first_responder_name": "赵敏",
        "first_responder_duty": "综合窗口", "first_responder_contact": "0935-7654321",
        "inquirer_id_number": "62010219800101123X", "inquirer_email": "zhangsan@example.cn",
        "inquirer_language": "zh-CN",
    },
    "shouwen.case.classified.v1": {
        "matter_type_code": "SB-03.2", "matter_type_name": "养老保险补缴",
        "jurisdiction": "own_unit", "handling_unit_id": "wuwei-rsj",
        "handling_section_id": "yanglao", "method": "catalogue", "confidence": 0.92,
    },
    "shouwen.case.accepted.v1": {
        "handler": STAFF, "section_id": "yanglao",
        "time_limit": {"working_days": 3, "due_date": "2026-03-05", "basis": "Lufeng county"},
        "handling_plan": "核对缴费记录后电话答复",
    },
    "shouwen.case.one_time_notice_given.v1": {
        "missing_materials": [
            {"name": "身份证", "requirements": "原件及复印件两份"},
            {"name": "补缴申请表", "form": "养老保险补缴申请表"},
        ],
        "requirements": "复印件须本人签字",
        "forms": [{"name": "养老保险补缴申请表", "where": "3号窗口或 https://rsj.example.cn/forms"}],
        "notified_via": "window",
    },
    "shouwen.case.materials_supplied.v1": {
        "materials": ["身份证", "补缴申请表"], "complete": True,
    },
    "shouwen.case.extension_requested.v1": {
        "reason": "需向省厅核实缴费年限", "proposed_due_date": "2026-03-12", "asked_of": LEADER,
    },
    "shouwen.case.extension_granted.v1": {
        "approver": LEADER, "new_due_date": "2026-03-12", "reason": "需向省厅核实缴费年限",
    },
    "shouwen.case.extension_refused.v1": {"approver": LEADER, "reason": "可在原期限内办结"},
    "shouwen.case.referred.v1": {
        "referral": {
            "kind": "external", "body_name": "武威市医疗保障局", "address": "凉州区南大街8号",
            "contact_phone": "0935-2223334", "contact_person": "孙科长",
        },
        "reason": "医保事项由医保局办理",
    },
    "shouwen.case.handoff_accepted.v1": {"handler": STAFF, "section_id": "yanglao"},
    "shouwen.case.escalated.v1": {
        "leader": LEADER, "reason": "unclear_jurisdiction", "details": "涉及两个科室",
        "ladder_step": 1,
    },
    "shouwen.case.matter_suggested.v1": {
        "confidence": 0.41, "suggestions": [
            {"matter_type_code": "RSJ-SBK-03", "matter_type_name": "社会保障卡补换卡",
             "score": 0.41, "handling_unit_id": "RSJ", "handling_section_id": "RSJ-SBK"},
            {"matter_type_code": "RSJ-SBK-02", "score": 0.33, "handling_unit_id": "RSJ"},
        ],
    },
    "shouwen.case.matter_chosen.v1": {
        "matter_type_code": "RSJ-SBK-02", "matter_type_name": "社会保障卡挂失",
        "previous_matter_type_code": None, "handling_unit_id": "RSJ",
        "handling_section_id": "RSJ-SBK", "suggested": True, "suggestion_rank": 2,
    },
    "shouwen.case.transfer_requested.v1": {
        "reason": "本人将外出培训两周", "proposed_responsible": STAFF, "asked_of": LEADER,
    },
    "shouwen.case.transfer_approved.v1": {
        "approver": LEADER, "previous_responsible_id": "S1001", "new_responsible": STAFF,
    },
    "shouwen.case.transfer_rejected.v1": {"approver": LEADER, "reason": "培训前可办结"},
    "shouwen.case.replied.v1": {
        "answer": "您可补缴2019年至2021年的养老保险", "channel": "phone",
        "basis": "《甘肃省城乡居民基本养老保险实施办法》第十二条",
    },
    "shouwen.case.completed.v1": {"outcome": "resolved", "summary": "已办理补缴"},
    "shouwen.case.result_delivered.v1": {
        "method": "pick_up", "recipient_name": "张三", "recipient_contact": "13800000000",
        "pickup_record": {
            "record_number": "QJ-2026-0042", "collector_name": "张小三",
            "collector_id_number": "62010219900101002X", "by_proxy": True,
            "picked_up_at": "2026-03-06T02:30:00Z",
        },
    },
    "shouwen.case.closed.v1": {"reason": "completed"},
    "shouwen.case.rated.v1": {"score": 4, "comment": "办事效率高"},
    "shouwen.case.rated.v2": {"level": "满意", "comment": "办事效率高", "anonymous": True},
    "shouwen.case.inquirer_erased.v1": {
        "inquirer_ref": "inq-0123456789abcdef", "ground": "request",
        "reason": "本人申请删除 (PIPL Art. 47)", "key_id": "inq-0123456789abcdef",
    },
    "shouwen.case.complaint_filed.v1": {
        "against_staff_id": "S1001", "against_staff_name": "赵敏", "against_unit_id": "wuwei-rsj",
        "complaint": "窗口人员说不归我管", "channel": "hotline",
        "complainant_name": "张三", "complainant_phone": "13800000000",
    },
    "shouwen.case.deadline_set.v1": {
        "obligation": "complete", "due_at": "2026-10-09T09:30:00Z", "limit_working_days": 5,
        "calendar_id": "CN", "responsible_id": "S1002", "basis": "matter catalogue SB-03.2",
    },
    "shouwen.case.deadline_warned.v1": {
        "obligation": "complete", "due_at": "2026-10-09T09:30:00Z", "responsible_id": "S1002",
        "working_days_left": 1,
    },
    "shouwen.case.deadline_breached.v1": {
        "obligation": "reply", "due_at": "2026-10-09T09:30:00Z", "responsible_id": "S1002",
    },
    "shouwen.case.deadline_met.v1": {
        "obligation": "reply", "due_at": "2026-10-09T09:30:00Z", "on_time": True,
    },
    "shouwen.case.notification_sent.v1": {
        "source_event_id": "0190f3a2-0000-7000-8000-000000000001", "recipient_kind": "inquirer",
        "channel": "sms", "address": "13800000000", "template": "inquirer/receipt",
        "language": "zh-CN", "attempts": 1,
        "message": "张三您好，您的事项已受理，回执号 WW-2026-000123",
    },
    "shouwen.case.notification_failed.v1": {
        "source_event_id": "0190f3a2-0000-7000-8000-000000000001", "recipient_kind": "staff",
        "recipient_id": "S1002", "channel": "email", "address": "zhangsan@example.cn",
        "template": "staff/assignment", "language": "en", "attempts": 5,
        "reason": "SMTP 451 after 5 attempts",
    },
    "shouwen.case.accountability_opened.v1": {
        "procedure_id": "ACC-2026-0001", "against_staff_ids": ["S1001"],
        "against_unit_id": "wuwei-rsj", "summary": "窗口人员推诿",
    },
    "shouwen.case.preliminary_verified.v1": {
        "procedure_id": "ACC-2026-0001", "findings": "录音属实", "proceed": True,
    },
    "shouwen.case.proposal_written.v1": {
        "procedure_id": "ACC-2026-0001", "proposal": "建议立案调查",
    },
    "shouwen.case.investigation_started.v1": {
        "procedure_id": "ACC-2026-0001", "group_member_ids": ["JW01", "JW02"],
    },
    "shouwen.case.investigation_extended.v1": {
        "procedure_id": "ACC-2026-0001", "approver": LEADER, "reason": "需补充调查取证",
    },
    "shouwen.case.accountability_decided.v1": {
        "procedure_id": "ACC-2026-0001", "decided_by": LEADER, "upheld": True,
        "reasoning": "首问责任人推诿，科室负责人未督促",
        "responsibilities": [
            {"staff_id": "S1001", "kind": "direct", "sanction": "criticism_and_apology",
             "violation_number": 1},
            {"staff_id": "L02", "kind": "main_leadership", "sanction": "warning_reminder",
             "violation_number": 1, "mitigating": ["rules_silent"]},
        ],
    },
    "shouwen.case.decision_delivered.v1": {
        "procedure_id": "ACC-2026-0001", "delivered_to_ids": ["S1001", "L02"], "rights_told": True,
    },
    "shouwen.case.review_requested.v1": {
        "procedure_id": "ACC-2026-0001", "requested_by_id": "S1001", "grounds": "当日系统故障",
    },
    "shouwen.case.review_decided.v1": {
        "procedure_id": "ACC-2026-0001", "outcome": "upheld", "reason": "故障不影响告知义务",
    },
    "shouwen.case.accountability_closed.v1": {
        "procedure_id": "ACC-2026-0001", "ground": "reviewed",
    },
}


def case_types() -> list[str]:
    return [t for t in registered_types() if t.startswith("shouwen.case.")]


def test_every_case_event_type_has_a_valid_sample() -> None:
    assert sorted(SAMPLES) == case_types()
    for event_type, data in SAMPLES.items():
        events.model_for(event_type).model_validate(data)
