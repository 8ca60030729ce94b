"""`shouwen checkpoint --every` as a real process: killed with SIGKILL while events keep
arriving, restarted, and the checkpoints it left are all whole, signed and consistent with
one another; and each one is published on the checkpoints topic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import psycopg
import pytest

from services.common.bus import assigned_consumer
from services.proof import merkle, note
from services.proof.settings import ProofSettings, signing_key
from tests.integration.test_proof_checkpoints import append, memory_tree

SHOUWEN = str(Path(sys.executable).parent / "shouwen")


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([SHOUWEN, "checkpoint", "--every", "0.05"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_kill_9_mid_checkpointing_leaves_whole_consistent_checkpoints(database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, SHOUWEN_DATA_DIR=str(tmp_path / "data"))
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    for round_ in range(4):
        proc = start(env)
        for _ in range(3):
            append(database_url, 50 + 17 * round_)
            time.sleep(0.07 * (round_ + 1))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    proc = start(env)  # the last one finishes the job, then stops politely
    deadline = time.monotonic() + 30
    with psycopg.connect(database_url, autocommit=True) as conn:
        total = conn.execute("SELECT max(seq) FROM commit_log").fetchone()[0]
        while conn.execute("SELECT max(tree_size) FROM checkpoints").fetchone()[0] != total:
            assert time.monotonic() < deadline, "the restarted checkpointer did not catch up"
            time.sleep(0.1)
        proc.terminate()
        proc.wait(10)
        rows = conn.execute("SELECT tree_size, root_hash, note, prev_tree_size,"
                            " consistency_proof FROM checkpoints ORDER BY tree_size").fetchall()
        tree = memory_tree(conn)
    assert len(rows) >= 2
    key = signing_key(env_settings(tmp_path), ProofSettings()).public_key()
    previous = None
    for size, root, text, prev_size, proof in rows:
        cp = note.parse_note(text)
        cp.verify(key)
        assert (cp.tree_size, cp.root_hash) == (size, bytes(root))
        assert cp.root_hash == merkle.root(tree, size)
        if previous is None:
            assert prev_size is None
        else:
            assert prev_size == previous[0]
            assert merkle.verify_consistency(prev_size, size, previous[1], bytes(root),
                                             [bytes(p) for p in proof])
        previous = (size, bytes(root))
    published = (tmp_path / "data" / "proof" / "checkpoint").read_text()
    assert published == rows[-1][2]


def env_settings(tmp_path: Path):
    from services.common.settings import Settings

    return Settings(data_dir=tmp_path / "data")


def test_each_checkpoint_is_published_on_the_topic(database_url, bootstrap, tmp_path):
    topic = f"shouwen.checkpoints.{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DATABASE_URL=database_url, KAFKA_BOOTSTRAP_SERVERS=bootstrap,
               SHOUWEN_DATA_DIR=str(tmp_path / "data"), SHOUWEN_CHECKPOINTS_TOPIC=topic)
    append(database_url, 12)
    proc = start(env)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "data" / "proof" / "checkpoint").exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.1)
        consumer = assigned_consumer(bootstrap, topic)
        got = []
        while not got and time.monotonic() < deadline:
            got = [m for batch in consumer.poll(500).values() for m in batch]
        consumer.close()
    finally:
        proc.terminate()
        proc.wait(10)
    doc = orjson.loads(got[0].value)
    assert doc["tree_size"] == 12
    assert note.from_json(doc).note() == (tmp_path / "data" / "proof" / "checkpoint").read_text()
