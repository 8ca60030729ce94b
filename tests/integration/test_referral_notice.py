"""The referral notice names the destination (issue 14, item 3; DOMAIN.md section 3).

A cross-unit (internal) referral over HTTP records the receiving unit's name and address,
the section's window and phone and the contact person (the named handler) on the referred
event, from the directory in force; the inquirer's notice (both languages) carries them, as
an external referral's does. An old event without them still renders.
"""

from __future__ import annotations

from services.notification.render import Renderer
from services.notification.rules import CaseFacts, plan
from tests.integration.intake_helpers import FIRST, WALK_IN, events_of, post, register


def test_a_cross_unit_referral_notice_tells_where_whom_and_how_to_reach_them(
        intake, token_for, database_url):
    case_id = register(intake, token_for(FIRST), WALK_IN)["case_id"]
    r = post(intake, case_id, "refer", {"kind": "internal", "section_id": "RSJ-SBK",
                                        "handler_id": "RSJ008"}, token_for(FIRST))
    assert r.status_code == 200, r.text
    received, referred = events_of(database_url, case_id)[:2]
    ref = referred["data"]["referral"]
    assert (ref["unit_id"], ref["unit_name"], ref["contact_person"]) == (
        "RSJ", "示范市人力资源和社会保障局", "谢丹丹")
    assert ref["address"] and ref["window"] == "政务服务大厦二楼B区社保卡综合服务窗口12-15号"
    assert ref["contact_phone"] == "0935-8210101"

    facts = CaseFacts.from_received(case_id, received["data"])
    [to_inquirer] = [i for i in plan("shouwen.case.referred.v1", referred["data"], facts)
                     if i.recipient_kind.value == "inquirer"]
    context = {"case": facts.context(), "event": referred["data"],
               "recipient": {"name": "王小明", "id": None}}
    zh = Renderer().render(to_inquirer.template, "zh-CN", context).body
    for part in ("示范市人力资源和社会保障局", ref["address"], ref["window"], "0935-8210101",
                 "联系人：谢丹丹"):
        assert part in zh, (part, zh)
    en = Renderer().render(to_inquirer.template, "en", context).body
    assert f"Address: {ref['address']}; window: {ref['window']}" in en
    assert "contact person: 谢丹丹" in en

    old = {**referred["data"], "referral": {k: v for k, v in ref.items() if k in (
        "kind", "unit_id", "section_id", "section_name", "handler", "handler_present")}}
    assert "谢丹丹" in Renderer().render(to_inquirer.template, "zh-CN",
                                        {**context, "event": old}).body
