"""PostgreSQL stopped under the running intake and ledger processes (a PostgreSQL of this
test's own, so the session's server is not touched): every request that needs the store
is answered 503 with Retry-After at once (no 500, no ~27-second wait on the pool),
/readyz is 503 so a load balancer drains the replica, nothing is half-written, and when
the server is back the same processes answer again."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from services.common import embedded
from services.common.auth import issue_token
from services.common.db import migrate
from services.common.settings import Settings
from services.directory.loader import load_directory
from services.directory.store import put_in_force
from tests.conftest import DEMO_DIRECTORY
from tests.faults.workers import Service, wait_for
from tests.integration.intake_helpers import ACCEPT, WALK_IN

pytestmark = pytest.mark.fault

FAST = 15.0  # seconds: far below the pool's old 30 s wait, far above a 503's real time


@pytest.fixture
def own_postgres() -> Iterator[tuple[Path, str]]:
    # Not under tmp_path: PostgreSQL runs as another user when we are root, and pytest's
    # directories are private to us (as conftest's own server does).
    data = Path(tempfile.mkdtemp(prefix="shouwen-outage-")) / "pg"
    admin = embedded.start_postgres(data)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("outage")))
        url = psycopg.conninfo.make_conninfo(admin, dbname="outage")
        migrate(url)
        put_in_force(url, load_directory(DEMO_DIRECTORY), actor="system:test",
                     source=str(DEMO_DIRECTORY))
        yield data, url
    finally:
        embedded.stop_postgres(data)
        shutil.rmtree(data.parent, ignore_errors=True)


def events(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def test_a_stopped_database_is_answered_503_at_once_and_the_services_come_back(
    own_postgres, tmp_path
):
    data, url = own_postgres
    intake_port, ledger_port = embedded.free_port(), embedded.free_port()
    env = {**os.environ, "DATABASE_URL": url, "SHOUWEN_DATA_DIR": str(tmp_path / "data"),
           "SHOUWEN_INTAKE_PORT": str(intake_port), "SHOUWEN_LEDGER_PORT": str(ledger_port)}
    token = issue_token(Settings(DATABASE_URL=url, data_dir=tmp_path / "data"), "ZX005")
    staff = {"Authorization": f"Bearer {token}"}
    intake = Service(env, tmp_path / "intake.log", "intake")
    ledger = Service(env, tmp_path / "ledger.log", "ledger")
    base, lbase = f"http://127.0.0.1:{intake_port}", f"http://127.0.0.1:{ledger_port}"
    try:
        with httpx.Client(timeout=60) as http:
            def ready(at: str) -> bool:
                try:
                    return http.get(f"{at}/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(lambda: ready(base) and ready(lbase), "both services ready", 90,
                     intake, ledger)
            case = http.post(f"{base}/v1/cases", json=WALK_IN, headers=staff)
            assert case.status_code == 201, case.text
            case_id = case.json()["case_id"]
            stored = events(url)

            embedded.stop_postgres(data)  # the outage
            answers = {
                "register": lambda: http.post(f"{base}/v1/cases", json=WALK_IN, headers=staff),
                "case": lambda: http.get(f"{base}/v1/cases/{case_id}", headers=staff),
                "staff action": lambda: http.post(f"{base}/v1/cases/{case_id}/accept",
                                                  json=ACCEPT, headers=staff),
                "console": lambda: http.get(f"{base}/console/register",
                                            cookies={"shouwen_console": token}),
                "history": lambda: http.get(f"{lbase}/v1/cases/{case_id}/history",
                                            headers=staff),
                "intake ready": lambda: http.get(f"{base}/readyz"),
                "ledger ready": lambda: http.get(f"{lbase}/readyz"),
            }
            for what, ask in answers.items():
                started = time.monotonic()
                r = ask()
                took = time.monotonic() - started
                assert r.status_code == 503, (what, r.status_code, r.text[:300])
                assert int(r.headers["retry-after"]) > 0, what
                assert took < FAST, (what, took)
            problem = answers["register"]()
            assert problem.headers["content-type"].startswith("application/problem+json")
            assert problem.json()["status"] == 503 and "unavailable" in problem.json()["detail"]

            embedded.start_postgres(data)  # back
            wait_for(lambda: ready(base) and ready(lbase), "both services ready again", 60,
                     intake, ledger)
            assert events(url) == stored  # nothing half-written during the outage
            again = http.post(f"{base}/v1/cases", json=WALK_IN, headers=staff)
            assert again.status_code == 201, again.text
            acted = http.post(f"{base}/v1/cases/{case_id}/accept", json=ACCEPT, headers=staff)
            assert acted.status_code == 200, acted.text
            assert http.get(f"{lbase}/v1/cases/{case_id}/history",
                            headers=staff).status_code == 200
    finally:
        intake.stop()
        ledger.stop()
    assert "Traceback" not in intake.log() + ledger.log()
