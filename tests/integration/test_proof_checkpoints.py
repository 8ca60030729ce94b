"""Checkpoints over a real PostgreSQL store: persisted tree, proofs, and an admin's rewrite.

Events are appended with the event store, put in commit order by the relay's sequencer,
then checkpointed. The rewrite test lifts the append-only guard as a superuser
(``session_replication_role = replica``) and recomputes every hash chain, so that
`shouwen verify` sees nothing; the checkpoint someone kept still catches it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.eventstore import GENESIS, EventStore, chain_hash, row_to_recorded
from services.common.integrity import verify_store
from services.proof import checkpointer, merkle, note, tree_store
from services.relay.sequencer import global_hash, sequence_pass
from tests.unit.test_proof_bundle import _received

SHOUWEN = str(Path(sys.executable).parent / "shouwen")
KEY = Ed25519PrivateKey.generate()
ORIGIN = "shouwen.test/log"


def append(url: str, count: int, streams: int = 7) -> None:
    es = EventStore(url)
    for i in range(count):
        case_id = f"C-{i % streams}"
        version = es.stream_version(case_id)
        es.append(case_id, [_received(case_id, version + 1)], expected_version=version)
    with psycopg.connect(url, autocommit=True) as conn:
        while sequence_pass(conn):
            pass


def take(url: str) -> checkpointer.Taken | None:
    with psycopg.connect(url, autocommit=True) as conn:
        return checkpointer.take(conn, KEY, ORIGIN)


def memory_tree(conn: psycopg.Connection) -> merkle.MemoryTree:
    rows = conn.execute("SELECT event_hash FROM commit_log ORDER BY seq").fetchall()
    return merkle.MemoryTree([merkle.leaf_hash(bytes(r[0])) for r in rows])


def test_checkpoints_grow_the_tree_and_prove_consistency(database_url):
    append(database_url, 70)
    first = take(database_url)
    assert first is not None and first.checkpoint.tree_size == 70 and first.prev_size == 0
    assert take(database_url) is None  # nothing new
    append(database_url, 131)
    second = take(database_url)
    assert second is not None and second.checkpoint.tree_size == 201
    assert second.prev_size == 70
    with psycopg.connect(database_url, autocommit=True) as conn:
        tree = memory_tree(conn)
        assert second.checkpoint.root_hash == merkle.root(tree, 201)
        assert first.checkpoint.root_hash == merkle.root(tree, 70)
        assert merkle.verify_consistency(70, 201, first.checkpoint.root_hash,
                                         second.checkpoint.root_hash, second.consistency)
        proofs = tree_store.inclusion_proofs(conn, list(range(201)), 201)
        for i, proof in proofs.items():
            assert proof == merkle.inclusion_proof(tree, i, 201)
            assert merkle.verify_inclusion(tree(0, i), i, 201, proof,
                                           second.checkpoint.root_hash)
        for m in (1, 63, 64, 65, 128, 200):
            assert tree_store.consistency_proof(conn, m, 201) == merkle.consistency_proof(
                tree, m, 201)
        stored = conn.execute("SELECT count(*) FROM merkle_nodes").fetchone()[0]
        assert stored == 3 + 1  # three chunks of 64 leaves, one node of 128
        saved = checkpointer.latest(conn)
        assert saved is not None and saved.note() == second.checkpoint.note()
        saved.verify(KEY.public_key())


def test_checkpoints_are_append_only(database_url):
    append(database_url, 70)
    take(database_url)
    with psycopg.connect(database_url) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="append-only"
    ):
        conn.execute("UPDATE checkpoints SET root_hash = %s", (b"\x00" * 32,))
    with psycopg.connect(database_url) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="append-only"
    ):
        conn.execute("DELETE FROM merkle_nodes")


def test_a_changed_stored_node_stops_the_next_checkpoint(database_url):
    append(database_url, 130)
    take(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("UPDATE merkle_nodes SET hash = %s WHERE level = 7", (b"\x07" * 32,))
    append(database_url, 3)
    with pytest.raises(checkpointer.InconsistentStore, match="no longer hash"):
        take(database_url)


def rewrite_event(url: str, stream_id: str, version: int) -> None:
    """The administrator's rewrite: new content, and both hash chains recomputed after it."""
    with psycopg.connect(url) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        rows = cur.execute(
            "SELECT *, NULL AS seq FROM events WHERE stream_id = %s ORDER BY version",
            (stream_id,)).fetchall()
        prev = GENESIS
        for row in rows:
            if row["version"] == version:
                row = {**row, "data": {**row["data"], "matter": "从未说过的话"}}
            recorded = row_to_recorded({**row, "prev_hash": prev})
            digest = chain_hash(prev, recorded.event)
            conn.execute("UPDATE events SET data = %s, prev_hash = %s, hash = %s"
                         " WHERE position = %s",
                         (psycopg.types.json.Jsonb(row["data"]), prev, digest, row["position"]))
            prev = digest
        prev = GENESIS
        for seq, position in conn.execute(
                "SELECT seq, position FROM commit_log ORDER BY seq").fetchall():
            event_hash = conn.execute("SELECT hash FROM events WHERE position = %s",
                                      (position,)).fetchone()[0]
            digest = global_hash(prev, bytes(event_hash))
            conn.execute("UPDATE commit_log SET event_hash = %s, prev_hash = %s, hash = %s"
                         " WHERE seq = %s", (event_hash, prev, digest, seq))
            prev = digest


def verify_checkpoint(url: str, kept: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHOUWEN, "verify-checkpoint", str(kept), "--key", str(key)],
        env=dict(os.environ, DATABASE_URL=url), capture_output=True, text=True, timeout=120,
        check=False)


def test_an_admin_rewrite_is_caught_by_a_kept_checkpoint(database_url, tmp_path):
    append(database_url, 140)  # C-(i % 7) gets version i // 7 + 1 at commit seq i + 1
    kept = tmp_path / "kept.json"
    taken = take(database_url)
    assert taken is not None
    kept.write_bytes(orjson.dumps(taken.checkpoint.to_json()))
    key = tmp_path / "key.pem"
    key.write_text(note.public_pem(KEY.public_key()))
    append(database_url, 10)
    take(database_url)
    good = verify_checkpoint(database_url, kept, key)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK: the store's first 140 events" in good.stdout and "#150" in good.stdout

    rewrite_event(database_url, "C-3", 12)  # commit seq 81, in the second chunk of 64
    assert verify_store(database_url).ok  # the chains alone no longer show it
    bad = verify_checkpoint(database_url, kept, key)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "INCONSISTENT with checkpoint #140" in bad.stdout
    assert "no longer hash to the kept root" in bad.stdout
    assert "the first changed events lie in commit seq 65..128" in bad.stdout


def test_verify_checkpoint_refuses_bad_input(database_url, tmp_path):
    key = tmp_path / "key.pem"
    key.write_text(note.public_pem(KEY.public_key()))
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    result = verify_checkpoint(database_url, junk, key)
    assert result.returncode == 2 and "junk.json" in result.stderr
    other = tmp_path / "other.json"
    forged = note.sign(ORIGIN, 1, b"\x00" * 32, merkle_time(), Ed25519PrivateKey.generate())
    other.write_bytes(orjson.dumps(forged.to_json()))
    result = verify_checkpoint(database_url, other, key)
    assert result.returncode == 1 and "signed by key" in result.stdout


def merkle_time():
    from datetime import UTC, datetime

    return datetime.now(UTC)
