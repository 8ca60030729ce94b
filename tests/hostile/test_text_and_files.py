"""Text hygiene applied alike by the JSON API, Open311, the console and the CLI's directory
file; and the CLI's file inputs refused with exit 2 and a message, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.common.text import TextRefused, clean
from tests.hostile.test_corpus import count, csrf_of

SHOUWEN = str(Path(sys.executable).parent / "shouwen")
ROOT = Path(__file__).resolve().parents[2]
WALK_IN = {"channel": "visit", "matter": "想办理社会保障卡", "inquirer_name": "王小明",
           "inquirer_phone": "13912345678", "inquirer_address": "示范市和平路12号"}
HOSTILE_NAMES = {
    "CR LF": "王小明\r\nX-Injected: 1", "bidi override": "王\u202e明小",
    "zero width": "王\u200b小明", "C1 control": "王\x85小明", "isolate": "\u2067王小明\u2069",
}


def test_the_rules_per_kind_of_field() -> None:
    assert clean("e\u0301", "matter") == "\u00e9"  # NFC
    assert clean("第一行\n第二行", "answer") == "第一行\n第二行"  # free text: lines allowed
    assert clean("a\u200bb", "matter") == "a\u200bb"  # zero width: only names/phones/addresses
    for value, field in [("a\nb", "inquirer_name"), ("a\u202eb", "answer"),
                         ("a\u200db", "inquirer_phone"), ("\ud800", "matter"),
                         ("a\x1bb", "answer")]:
        with pytest.raises(TextRefused, match=f"^{field}: "):
            clean(value, field)


@pytest.mark.parametrize("what", sorted(HOSTILE_NAMES))
def test_the_api_open311_and_the_console_refuse_the_same_names(intake_app, token_for,
                                                               db_settings, what: str):
    url, name = str(db_settings.database_url), HOSTILE_NAMES[what]
    before = count(url)
    r = intake_app.post("/v1/cases", json={**WALK_IN, "inquirer_name": name},
                    headers=token_for("ZX005"))
    assert r.status_code == 422 and "inquirer_name" in r.json()["detail"], r.text
    r = intake_app.post("/open311/v2/requests.json", data={
        "service_code": "RSJ-SBK-01", "description": "补办社保卡", "first_name": name,
        "phone": "13912345678"})
    assert r.status_code == 400 and "first_name" in r.json()["detail"], r.text
    page = intake_app.get("/console/sign-in")
    intake_app.post("/console/sign-in", data={"csrf": csrf_of(page.text), "staff_id": "ZX005",
                                          "next": ""})
    csrf = csrf_of(intake_app.get("/console/register").text)
    r = intake_app.post("/console/register", data={"csrf": csrf, **WALK_IN, "inquirer_name": name})
    assert r.status_code == 422 and "inquirer_name" in r.text, r.text[:300]
    assert count(url) == before


def test_a_name_is_stored_nfc_normalised(intake_app, token_for, db_settings):
    r = intake_app.post("/v1/cases", json={**WALK_IN, "inquirer_name": "Jose\u0301"},
                    headers=token_for("ZX005"))
    assert r.status_code == 201
    detail = intake_app.get(f"/v1/cases/{r.json()['case_id']}", headers=token_for("ZX005")).json()
    assert "José" in str(detail) and "Jose\u0301" not in str(detail)


def shouwen(env_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": env_url}
    return subprocess.run([SHOUWEN, *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def _files(tmp: Path) -> dict[str, tuple[Path, str]]:
    demo = (ROOT / "deploy/demo/directory.yaml").read_text(encoding="utf-8")
    files: dict[str, Any] = {
        "deep YAML": ("- " * 1 + "[" * 5000 + "]" * 5000, "nested too deep"),
        "invalid UTF-8": (b"units: [\xff\xfe]", "cannot read"),
        "NUL": ("units:\n  - id: A\x00B\n", "YAML"),
        "bidi in a name": (demo.replace("李娜", "李\u202e娜", 1), "bidirectional"),
        "not a mapping": ("[1, 2]", "mapping"),
    }
    out = {}
    for i, (what, (content, message)) in enumerate(files.items()):
        path = tmp / f"directory-{i}.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        out[what] = (path, message)
    return out


def test_the_cli_refuses_hostile_directory_and_policy_files_with_exit_2(
        database_url, demo_directory, tmp_path):
    before = count(database_url)
    for what, (path, message) in _files(tmp_path).items():
        r = shouwen(database_url, "directory", "load", str(path))
        assert r.returncode == 2 and message in r.stderr, (what, r.returncode, r.stderr[-500:])
        assert "Traceback" not in r.stderr, what
    deep = tmp_path / "policy.yaml"
    deep.write_text("default: " + "[" * 5000 + "]" * 5000, encoding="utf-8")
    r = shouwen(database_url, "deadline-watch", "policy", str(deep))
    assert r.returncode == 2 and "nested too deep" in r.stderr and "Traceback" not in r.stderr
    assert count(database_url) == before


def test_the_cli_refuses_hostile_calendar_and_bundle_files_with_exit_2(
        database_url, demo_directory, tmp_path):
    import zipfile

    from services.proof import note
    from tests.integration.test_proof_checkpoints import KEY

    before = count(database_url)
    deep = tmp_path / "calendar.yaml"
    deep.write_text("calendar: CN\nyear: 2027\nholidays: " + "[" * 5000 + "]" * 5000,
                    encoding="utf-8")
    binary = tmp_path / "calendar-bin.yaml"
    binary.write_bytes(b"calendar: \xff\xfe\n")
    for path, message in ((deep, "nested too deep"), (binary, "cannot read")):
        r = shouwen(database_url, "calendar", "load", str(path), "--by", "staff:ZX013")
        assert r.returncode == 2 and message in r.stderr, r.stderr[-500:]
        assert "Traceback" not in r.stderr
    key = tmp_path / "pub.pem"
    key.write_text(note.public_pem(KEY.public_key()))
    truncated, empty, nested = (tmp_path / n for n in ("t.zip", "e.zip", "n.json"))
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("history.html", "<p>no bundle.json</p>")
    with zipfile.ZipFile(truncated, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bundle.json", b'{"format": "x"}' * 1000)
    truncated.write_bytes(truncated.read_bytes()[:200])
    nested.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    for path in (truncated, empty, nested):
        r = shouwen(database_url, "verify-bundle", str(path), "--key", str(key))
        assert r.returncode == 2 and "Traceback" not in r.stderr, (path, r.stderr[-500:])
    assert count(database_url) == before
