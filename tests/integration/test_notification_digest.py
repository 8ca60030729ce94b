"""A leader's pending escalation SMS go out as one digest, not one by one behind the
hourly limit (real PostgreSQL, a real HTTP SMS gateway); the city-sized defaults."""

from __future__ import annotations

import psycopg

from events import new_event
from events.case_referral import CaseEscalated
from services.notification.settings import NotifySettings
from tests.integration.test_notification_sender import (  # noqa: F401 (fixtures)
    Gateway,
    mail_fixture,
    open_cases,
    received,
    rig_fixture,
)

LEADER = {"id": "ZX001", "role": "principal_leader", "name": "周卫东"}


def escalated(case_id: str):  # type: ignore[no-untyped-def]
    return new_event(CaseEscalated.model_validate({"leader": LEADER, "reason": "complaint"}),
                     subject=case_id, actor="service:deadline-watch")


def leader_sms(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT case_id, state FROM notification_deliveries WHERE"
                            " recipient = 'leader:ZX001' AND channel = 'sms' ORDER BY case_id"
                            ).fetchall()


def test_a_leaders_pending_escalations_go_out_as_one_digest_sms(settings, mail, rig):
    gateway = Gateway(200)
    try:
        r = rig(sms_gateway_url=gateway.url, rate_per_recipient_per_hour=1)
        cases = [f"C-esc{i}" for i in range(5)]
        open_cases(r.url, [received(c) for c in cases])
        r.plan(*[escalated(c) for c in cases])
        r.drain()

        assert len(gateway.keys) == 1  # one SMS, within the limit of 1 an hour
        assert leader_sms(r.url) == [(c, "sent") for c in cases]  # every one told
        sent = [e for c in cases for e in r.case_events(c, "notification_sent")
                if e["channel"] == "sms"]
        assert len(sent) == 5 and "您有 5 件事项待处理" in sent[0]["message"]
        assert all(f"R-{c}" in sent[0]["message"] for c in cases)

        later = ["C-esc5", "C-esc6"]  # the hour's one SMS is spent: they wait, together
        open_cases(r.url, [received(c) for c in later])
        r.plan(*[escalated(c) for c in later])
        r.drain()
        assert len(gateway.keys) == 1
        assert [s for c, s in leader_sms(r.url) if c in later] == ["pending", "pending"]
    finally:
        gateway.shutdown()


def test_the_defaults_carry_a_citys_day():
    s = NotifySettings(_env_file=None)
    assert s.daily_cap_sms >= 4 * 80_000  # Shanghai's record day, ~4 messages a case
    assert s.daily_cap_email >= s.daily_cap_sms
