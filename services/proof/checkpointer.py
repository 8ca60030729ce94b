"""The checkpointer: signed Merkle tree heads over the store, one transaction each.

    take(conn)  lock (one checkpointer at a time) -> newest checkpoint (size a, root A)
                -> commit_log size b > a? -> grow the persisted tree a..b -> root B
                -> consistency proof a..b from the stored nodes, verified against A and B
                   (a stored node or leaf changed since A was signed: refused, loudly)
                -> sign (Ed25519) -> INSERT checkpoints; commit
    publish     the signed note to <dir>/checkpoint (the newest, replaced atomically) and
                <dir>/checkpoint-<size>.json; optionally to the shouwen.checkpoints topic
    run         take + publish every N seconds; a crash anywhere leaves either the whole
                checkpoint with its nodes or nothing, and the next pass does it again
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.proof import merkle, note, tree_store
from services.proof.metrics import CheckpointMetrics

CHECKPOINT_LOCK = 0x5E0_0010
log = logging.getLogger("shouwen.checkpoint")


class InconsistentStore(RuntimeError):
    """The store no longer agrees with a checkpoint already signed."""


@dataclass(frozen=True)
class Taken:
    checkpoint: note.Checkpoint
    prev_size: int
    consistency: list[bytes]


def latest(conn: psycopg.Connection) -> note.Checkpoint | None:
    row = conn.execute("SELECT note FROM checkpoints ORDER BY tree_size DESC LIMIT 1").fetchone()
    return note.parse_note(row[0]) if row else None


def latest_taken(conn: psycopg.Connection) -> Taken | None:
    row = conn.execute(
        "SELECT note, coalesce(prev_tree_size, 0), consistency_proof FROM checkpoints"
        " ORDER BY tree_size DESC LIMIT 1"
    ).fetchone()
    return Taken(note.parse_note(row[0]), row[1], [bytes(p) for p in row[2]]) if row else None


def take(conn: psycopg.Connection, key: Ed25519PrivateKey, origin: str,
         wait: bool = False) -> Taken | None:
    """Sign a checkpoint over everything in commit order; None when nothing is new (or,
    unless ``wait``, another checkpointer holds the lock)."""
    with conn.transaction():
        if wait:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHECKPOINT_LOCK,))
        else:
            locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (CHECKPOINT_LOCK,))
            if not locked.fetchone()[0]:  # type: ignore[index]
                return None
        last = latest(conn)
        old_size = last.tree_size if last else 0
        new_size = tree_store.committed_size(conn)
        if new_size <= old_size:
            return None
        new_root = tree_store.grow(conn, old_size, new_size)
        proof = tree_store.consistency_proof(conn, old_size, new_size)
        if last and not merkle.verify_consistency(
            old_size, new_size, last.root_hash, new_root, proof
        ):
            raise InconsistentStore(
                f"the store's first {old_size} events no longer hash to the root signed in"
                f" checkpoint {old_size}: run `shouwen verify` and `shouwen verify-checkpoint`"
            )
        cp = note.sign(origin, new_size, new_root, datetime.now(UTC), key)
        conn.execute(
            "INSERT INTO checkpoints (tree_size, root_hash, taken_at, origin, key_id, signature,"
            " note, prev_tree_size, consistency_proof) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
            " %s)",
            (cp.tree_size, cp.root_hash, cp.time, cp.origin, cp.key_id, cp.signature,
             cp.note(), old_size or None, proof),
        )
    return Taken(cp, old_size, proof)


def publish(taken: Taken, directory: Path, producer: object | None = None,
            topic: str | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    cp = taken.checkpoint
    doc = {**cp.to_json(), "prev_tree_size": taken.prev_size or None,
           "consistency_proof": [p.hex() for p in taken.consistency]}
    _write_atomic(directory / f"checkpoint-{cp.tree_size}.json",
                  orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    _write_atomic(directory / "checkpoint", cp.note().encode())
    if producer is not None and topic:
        # The topic is a courtesy copy: the table and the file are the record.
        try:
            producer.send(topic, key=cp.origin.encode(), value=orjson.dumps(doc))  # type: ignore[attr-defined]
            producer.flush(10)  # type: ignore[attr-defined]
        except Exception as exc:  # kafka-python raises KafkaError and plain timeouts
            log.warning("checkpoint %d not published on %s: %s", cp.tree_size, topic, exc)


def _published(directory: Path, cp: note.Checkpoint) -> bool:
    path = directory / "checkpoint"
    return path.exists() and path.read_text() == cp.note()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run(url: str, key: Ed25519PrivateKey, origin: str, directory: Path, every: float | None,
        producer: object | None = None, topic: str | None = None,
        metrics: CheckpointMetrics | None = None) -> int:
    """Checkpoint now, and then every ``every`` seconds (None: once). Returns how many."""
    taken_count = 0
    while True:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                taken = take(conn, key, origin)
                newest = latest_taken(conn)
            if taken is not None:
                taken_count += 1
                cp = taken.checkpoint
                log.info("checkpoint %d root %s", cp.tree_size, cp.root_hash.hex())
                if metrics is not None:
                    metrics.took()
            if metrics is not None and newest is not None:
                metrics.newest(newest.checkpoint)
            # Also after a crash between commit and publishing: the newest is always out.
            if newest is not None and not _published(directory, newest.checkpoint):
                publish(newest, directory, producer, topic)
        except psycopg.OperationalError as exc:
            if every is None:
                raise
            log.warning("database unavailable (%s); retrying", exc)
        if every is None:
            return taken_count
        time.sleep(every)
