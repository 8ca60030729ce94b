"""Proofs that say no more than they checked: verify-bundle binds what it can of the rendered
files to the verified events and says plainly what it did not verify; a forged history
fails it; a zip bomb is refused (exit 2) with bounded memory; verify-checkpoint fails on a
one-byte edit of an event's content that left its stored hash alone."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import psycopg

from services.proof import note
from tests.integration.test_proof_bundle_cli import append, case_at_the_window, run  # noqa: F401
from tests.integration.test_proof_checkpoints import KEY, take

SHOUWEN = str(Path(sys.executable).parent / "shouwen")


def _bundle(run, database_url, tmp_path) -> Path:  # noqa: F811
    append(database_url, 5, streams=2)
    case_at_the_window(database_url, "W-9", 3)
    assert run("checkpoint").returncode == 0
    (tmp_path / "pub.pem").write_text(run("checkpoint", "export-key").stdout)
    made = run("bundle", "W-9", "--by", "ZX005", "--out", "w9.zip")
    assert made.returncode == 0, made.stderr
    return tmp_path / "w9.zip"


def _rezip(src: Path, dst: Path, **replace: bytes) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            zout.writestr(name, replace.get(name.replace(".", "_"), zin.read(name)))


def test_verify_bundle_binds_the_rendered_parts_and_says_what_it_did_not_verify(
        run, database_url, tmp_path):  # noqa: F811
    bundle = _bundle(run, database_url, tmp_path)
    good = run("verify-bundle", bundle.name, "--key", "pub.pem")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "bound to these events: proof.html (regenerated, identical)" in good.stdout
    assert "NOT verified: the names" in good.stdout

    with zipfile.ZipFile(bundle) as zf:
        doc = orjson.loads(zf.read("bundle.json"))
        proof = zf.read("proof.html")
    forged = orjson.loads(orjson.dumps(doc))
    forged["history"]["steps"][1]["actor"]["ref"] = "staff:ZX001"  # someone else did it
    _rezip(bundle, tmp_path / "forged.zip", bundle_json=orjson.dumps(forged))
    bad = run("verify-bundle", "forged.zip", "--key", "pub.pem")
    assert bad.returncode == 1 and "history step #2" in bad.stdout, bad.stdout

    _rezip(bundle, tmp_path / "page.zip", proof_html=proof.replace(b"staff:ZX005",
                                                                   b"staff:ZX001"))
    bad = run("verify-bundle", "page.zip", "--key", "pub.pem")
    assert bad.returncode == 1 and "proof.html: does not match" in bad.stdout, bad.stdout


def test_a_zip_bomb_is_refused_with_exit_2_and_bounded_memory(run, tmp_path):  # noqa: F811
    (tmp_path / "pub.pem").write_text(note.public_pem(KEY.public_key()))
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("bundle.json", "w") as f:
        for _ in range(100):  # 100 MB of zeros, about 100 KB zipped
            f.write(b"\x00" * (1 << 20))
    assert bomb.stat().st_size < 1_000_000
    result = subprocess.run(  # refused on the member's size, before anything is inflated
        [SHOUWEN, "verify-bundle", str(bomb), "--key", str(tmp_path / "pub.pem")],
        capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "zip bomb" in result.stderr and "Traceback" not in result.stderr


def test_verify_checkpoint_fails_on_a_one_byte_edit_that_kept_the_stored_hash(
        database_url, tmp_path):
    append(database_url, 20, streams=3)
    taken = take(database_url)
    assert taken is not None
    kept, key = tmp_path / "kept.json", tmp_path / "key.pem"
    kept.write_bytes(orjson.dumps(taken.checkpoint.to_json()))
    key.write_text(note.public_pem(KEY.public_key()))
    env = dict(os.environ, DATABASE_URL=database_url)

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([SHOUWEN, "verify-checkpoint", str(kept), "--key", str(key)],
                              env=env, capture_output=True, text=True, timeout=120,
                              check=False)

    assert verify().returncode == 0
    with psycopg.connect(database_url) as conn:  # the hash column left as it was
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("UPDATE events SET data = jsonb_set(data, '{matter}', to_jsonb("
                     "overlay(data->>'matter' placing 'X' from 1 for 1)))"
                     " WHERE stream_id = 'C-1' AND version = 2")
    bad = verify()
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "INCONSISTENT" in bad.stdout and "C-1" in bad.stdout, bad.stdout
