"""Shared steps for the staff intake API tests: register a case, read the store directly.

The demo directory's people used by the tests (deploy/demo/directory.yaml):
    ZX005 李娜    window staff, centre unit ZWFWZX, section ZX-ZHSL (first responder)
    ZX006 赵鹏    a colleague in the same section
    ZX004 张晓燕  chief of ZX-ZHSL          ZX001 周卫东  principal leader of the centre
    ZX002 陈丽华  centre supervising leader  ZX011 冯秀兰  supervisor (纪检监察)
    ZX013 杨雪    centre_admin               ZX009 郭亚楠  ZX-CJCK (another centre section)
    RSJ008 谢丹丹 RSJ-SBK, social-security unit RSJ    RSJ004 高燕 its section chief
    SWJ005        tax unit SWJ: another unit, outside every case here
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

FIRST = "ZX005"
WALK_IN = {
    "channel": "visit",
    "matter": "想办理社会保障卡，不清楚需要带什么材料",
    "inquirer_name": "王小明",
    "inquirer_phone": "13912345678",
    "inquirer_address": "示范市和平路12号",
}
PHONE_CALL = {
    "channel": "phone",
    "matter": "来电询问养老保险关系转移需要多长时间",
    "inquirer_name": "陈大伟",
    "inquirer_phone": "0935-8123456",
}


def register(intake: TestClient, headers: dict[str, str], body: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    r = intake.post("/v1/cases", json=body or WALK_IN, headers=headers)
    assert r.status_code == 201, r.text
    receipt: dict[str, Any] = r.json()
    return receipt


def events_of(url: str, case_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT type, actor, causation_id, correlation_id, event_id, data FROM events"
            " WHERE stream_id = %s ORDER BY version", (case_id,)).fetchall()
    return [{"type": t.split(".")[2], "actor": a, "causation": c, "correlation": k,
             "id": i, "data": d} for t, a, c, k, i, d in rows]


def event_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def post(intake: TestClient, case_id: str, action: str, body: Any,
         headers: dict[str, str]) -> Any:
    return intake.post(f"/v1/cases/{case_id}/{action}", json=body, headers=headers)


ACCEPT: dict[str, Any] = {"matter_type_code": "RSJ-SBK-01",
                          "handling_plan": "材料齐全后15个工作日内制卡，短信通知领取"}
REPLY: dict[str, Any] = {"answer": "您的社会保障卡已制作完成，请携带身份证到出件窗口领取"}
