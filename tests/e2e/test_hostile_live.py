"""The hostile corpus against a running ``shouwen intake`` (uvicorn, real sockets): every
operation of its OpenAPI document, Open311 included, with bad input of every class. Zero
5xx, problem documents, nothing written, the server still serving, and ``shouwen verify``
passes afterwards."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import httpx
import pytest

from tests.e2e.test_openapi_fuzz import SHOUWEN, STAFF, auth, server  # noqa: F401
from tests.hostile.corpus import probes
from tests.hostile.test_corpus import Tally, count

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
WALK_IN = {"channel": "visit", "matter": "想办理社会保障卡", "inquirer_name": "王小明",
           "inquirer_phone": "13912345678", "inquirer_address": "示范市和平路12号"}


def test_a_hostile_run_against_a_live_intake_gets_no_5xx(
        server: str, auth: dict[str, str], database_url: str) -> None:  # noqa: F811
    with httpx.Client(base_url=server, timeout=30) as client:
        made = client.post("/v1/cases", json=WALK_IN, headers=auth)
        assert made.status_code == 201, made.text
        case: dict[str, Any] = made.json()
        fills = {"case_id": case["case_id"], "procedure_id": "AP-" + "0" * 32,
                 "service_code": "RSJ-SBK-01", "service_request_id": case["receipt_number"],
                 "kind": "units", "subject_id": "ZWFWZX"}
        before, tally = count(database_url), Tally(database_url)
        doc = client.get("/openapi.json").json()
        tally.sweep(client, probes(doc, lambda n: fills[n]), auth)  # type: ignore[arg-type]
        assert client.get("/healthz").status_code == 200
        assert count(database_url) == before
    tally.report("live intake")
    verified = subprocess.run([SHOUWEN, "verify"], env=dict(os.environ, DATABASE_URL=database_url),
                              capture_output=True, text=True, timeout=120, check=False)
    assert verified.returncode == 0 and verified.stdout.startswith("OK"), verified.stdout
