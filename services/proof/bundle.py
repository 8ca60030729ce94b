"""``shouwen bundle CASE``: a dispute bundle, one zip file.

    bundle.json      format, case, who made it and when; the checkpoint (signed note); the
                     key's fingerprint; every event of the case covered by the checkpoint
                     (full envelope = the exact document its hash covers, prev_hash, hash,
                     commit seq, inclusion proof); later events listed as not covered;
                     the history (JSON: the ledger's replay)
    history.html     the history for people (the ledger's page)
    proof.html       the events with their hashes, the checkpoint and how to verify
    history.pdf      the history for print (ReportLab)
    checkpoint.note  the signed note as text;  public-key.txt  fingerprint and PEM

    build:  the case's events -> may this staff member see them, unmasked? (intake's rules)
            -> commit seqs (waiting a little for the relay's sequencer) -> the newest
            checkpoint, or a fresh one when it does not cover them and a signing key is at
            hand -> proofs (tree_store) -> history -> access_audit row (who bundled whose
            case; the same transaction as the reads) -> the document
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from events.canonical import canonical_dict
from services.common.eventstore import RecordedEvent
from services.directory.index import DirectoryIndex
from services.directory.store import current
from services.proof import checkpointer, history, note, tree_store
from services.proof.pdf import render_pdf
from services.proof.verify import FORMAT
from services.record.access import case_access
from services.record.audit import record_access
from services.record.history import read_case


class BundleRefused(ValueError):
    """Bad input (unknown staff or case, no checkpoint): says why; nothing is written."""


@dataclass(frozen=True)
class Bundle:
    doc: dict[str, Any]
    history_html: str | None  # the ledger's page, when it replays the case


def _seqs(conn: psycopg.Connection, case_id: str) -> dict[int, int]:
    rows = conn.execute(
        "SELECT version, seq FROM commit_log WHERE stream_id = %s", (case_id,)
    ).fetchall()
    return {int(v): int(s) for v, s in rows}


def authorise(conn: psycopg.Connection, staff_id: str, case_id: str,
              recorded: list[RecordedEvent]) -> None:
    """Intake's rules, as the ledger applies them: the staff member must see the case and
    the inquirer's data, which a bundle carries unmasked (the hashes cover it)."""
    loaded = current(conn)
    index = DirectoryIndex(loaded[1], loaded[0]) if loaded else None
    person = index.person(staff_id) if index else None
    if person is None or index is None:
        raise BundleRefused(f"--by {staff_id!r} is not a staff member of the directory in force")
    sees, personal = case_access(person, index, case_id, [r.event for r in recorded])
    if not sees:
        raise BundleRefused(f"case {case_id!r} not found within the scope of staff {staff_id}")
    if not personal:
        raise BundleRefused(f"staff {staff_id} may not see the inquirer's personal data of"
                            f" case {case_id!r}, which a bundle carries unmasked")


def build(
    conn: psycopg.Connection, case_id: str, staff_id: str, public_key: Ed25519PublicKey,
    signing_key: Ed25519PrivateKey | None = None, origin: str = "", wait: float = 5.0,
) -> Bundle:
    """``conn`` in autocommit; the reads that go in the bundle and the audit row commit
    together."""
    recorded = read_case(conn, case_id)[0]
    if not recorded:
        raise BundleRefused(f"case {case_id!r} has no events")
    authorise(conn, staff_id, case_id, recorded)
    seqs, deadline = _seqs(conn, case_id), time.monotonic() + wait
    while len(seqs) < len(recorded) and time.monotonic() < deadline:
        time.sleep(0.2)  # the relay's sequencer places new events within moments
        seqs = _seqs(conn, case_id)
    cp = checkpointer.latest(conn)
    if signing_key is not None and seqs and (cp is None or max(seqs.values()) > cp.tree_size):
        checkpointer.take(conn, signing_key, origin, wait=True)
        cp = checkpointer.latest(conn)
    if cp is None:
        raise BundleRefused("no checkpoint covers the store yet: run `shouwen checkpoint`")
    with conn.transaction():
        read = read_case(conn, case_id)
        recorded = read[0]
        covered = [r for r in recorded
                   if seqs.get(r.event.sequence or 0, cp.tree_size + 1) <= cp.tree_size]
        proofs = tree_store.inclusion_proofs(
            conn, [seqs[r.event.sequence or 0] - 1 for r in covered], cp.tree_size)
        source, entries, page = history.history_of(conn, case_id, read)
        record_access(conn, reader=f"staff:{staff_id}", action="bundle", via="cli",
                      case_id=case_id, personal_data=True, format="zip", rows=len(covered))
    doc = {
        "format": FORMAT, "case_id": case_id, "created_by": f"staff:{staff_id}",
        "created_at": datetime.now(UTC).isoformat(),
        "leaf": "leaf i = SHA-256(0x00 || event hash) at i = commit seq - 1 (RFC 9162);"
                " event hash = SHA-256(prev_hash || RFC 8785 bytes of the envelope)",
        "checkpoint": cp.to_json(),
        "key": {"fingerprint": note.fingerprint(public_key), "key_id": cp.key_id.hex()},
        "events": [_item(r, seqs[r.event.sequence or 0], proofs) for r in covered],
        "not_covered": [{"event_id": str(r.event.id), "version": r.event.sequence}
                        for r in recorded[len(covered):]],
        "history_source": source, "history": entries,
    }
    return Bundle(doc, page)


def _item(r: RecordedEvent, seq: int, proofs: dict[int, list[bytes]]) -> dict[str, Any]:
    return {"envelope": canonical_dict(r.event), "prev_hash": r.prev_hash.hex(),
            "hash": r.hash.hex(), "seq": seq, "recorded_at": r.recorded_at.isoformat(),
            "inclusion_proof": [p.hex() for p in proofs[seq - 1]]}


def write_zip(bundle: Bundle, public_key: Ed25519PublicKey, out: Path) -> None:
    """All or nothing: written aside, then renamed into place."""
    doc, proof_page = bundle.doc, history.render_html(bundle.doc)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bundle.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        zf.writestr("history.html", bundle.history_html or proof_page)
        zf.writestr("proof.html", proof_page)
        zf.writestr("history.pdf", render_pdf(doc))
        zf.writestr("checkpoint.note", doc["checkpoint"]["note"])
        zf.writestr("public-key.txt", f"Ed25519 key, SHA-256 fingerprint"
                    f" {note.fingerprint(public_key)}\n\n{note.public_pem(public_key)}")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)
