"""Production misconfiguration fails at start, not on every request; an unknown key id is
refused in development too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from services.common.auth import DEV_KID, Misconfigured, dev_private_key, issue_token

SHOUWEN = str(Path(sys.executable).parent / "shouwen")


@pytest.mark.parametrize("command", [["intake"], ["ledger"], ["dashboard", "serve"]])
def test_production_without_a_jwks_url_refuses_to_start_naming_the_variable(command, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SHOUWEN_JWKS_URL"}
    env.update(SHOUWEN_ENVIRONMENT="production", DATABASE_URL="postgresql:///nowhere",
               SHOUWEN_DATA_DIR=str(tmp_path))
    r = subprocess.run([SHOUWEN, *command], env=env, capture_output=True, text=True,
                       timeout=60, check=False, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "SHOUWEN_JWKS_URL is required" in r.stderr and "Traceback" not in r.stderr


def test_the_apps_cannot_even_be_built_without_it(db_settings):
    from services.intake.app import create_app
    from services.ledger.app import create_app as ledger_app

    production = db_settings.model_copy(update={"environment": "production"})
    for build in (create_app, ledger_app):
        with pytest.raises(Misconfigured, match="SHOUWEN_JWKS_URL"):
            build(production)


def test_a_token_with_an_unknown_key_id_is_refused_in_development(intake: TestClient,
                                                                   db_settings):
    good = issue_token(db_settings, "ZX005")
    claims = jwt.decode(good, options={"verify_signature": False})
    for kid in ("another-key", None):
        headers = {"typ": "at+jwt"} | ({"kid": kid} if kid else {})
        token = jwt.encode(claims, dev_private_key(db_settings), algorithm="RS256",
                           headers=headers)
        r = intake.get("/v1/cases", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "key id" in r.json()["detail"], r.text
    assert jwt.get_unverified_header(good)["kid"] == DEV_KID
    ok = intake.get("/v1/cases", headers={"Authorization": f"Bearer {good}"})
    assert ok.status_code == 200
