"""A cross-unit handoff is accepted under the RECEIVING unit's policy (issue 14, item 4).

The policy book is put in force with the CLI (`shouwen deadline-watch policy FILE`): the
centre (ZWFWZX, the referring unit) gives 1 working day to accept a handoff, the social
security bureau (RSJ, the receiving unit) 5. The centre's clerk refers a walk-in to RSJ's
handler over HTTP; `shouwen deadline-watch --rebuild` plans the case from its stream. The
accept_referral deadline is the receiving unit's 5 working days; a referral inside the
centre keeps the centre's 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.integration.intake_helpers import FIRST, events_of, post, register

ROOT = Path(__file__).resolve().parents[2]
POLICY = """\
default: {accept_referral_working_days: 2}
units:
  ZWFWZX: {accept_referral_working_days: 1}
  RSJ: {accept_referral_working_days: 5}
"""


def shouwen(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def url(db_settings) -> str:
    return str(db_settings.database_url)


def test_accept_referral_is_timed_by_the_receiving_units_policy(intake, token_for, url,
                                                                 tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    r = shouwen(url, "deadline-watch", "policy", str(policy))
    assert r.returncode == 0, r.stderr

    clerk = token_for(FIRST)
    across = register(intake, clerk)["case_id"]
    assert post(intake, across, "refer", {"kind": "internal", "section_id": "RSJ-SBK",
                                          "handler_id": "RSJ008"}, clerk).status_code == 200
    inside = register(intake, clerk)["case_id"]
    assert post(intake, inside, "refer", {"kind": "internal", "section_id": "ZX-CJCK",
                                          "handler_id": "ZX009"}, clerk).status_code == 200

    r = shouwen(url, "deadline-watch", "--rebuild")
    assert r.returncode == 0, r.stderr

    def accept_referral(case_id: str) -> dict:
        sets = [e["data"] for e in events_of(url, case_id) if e["type"] == "deadline_set"
                and e["data"]["obligation"] == "accept_referral"]
        assert len(sets) == 1, sets
        return sets[0]

    assert accept_referral(across)["limit_working_days"] == 5
    assert accept_referral(across)["responsible_id"] == "RSJ008"
    assert accept_referral(inside)["limit_working_days"] == 1
    with psycopg.connect(url) as conn:
        due = dict(conn.execute(
            "SELECT case_id, due_at FROM deadline_timers WHERE obligation = 'accept_referral'"
            " AND kind = 'breach'").fetchall())
    assert due[across] > due[inside]
