"""Offline verification of a dispute bundle: nothing but the bundle and the public key.

    read_bundle(path)        a .zip (bundle.json inside) or the JSON itself -> dict;
                             BundleUnreadable for anything else
    verify_bundle(doc, key)  in this order, stopping at the first bad item:
        checkpoint   its signed note parses, and ``key`` signed it
        each event   (version order, from 1) belongs to the case, versions contiguous;
                     hash = SHA-256(prev_hash || RFC 8785 bytes of its envelope);
                     prev_hash = the previous event's hash (32 zero bytes before the first);
                     leaf SHA-256(0x00 || hash) at index seq - 1 with its inclusion proof
                     leads to the checkpoint's root
    -> Verified (a summary) or BundleInvalid (naming the first bad item)

Pure: no database, no network.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from events.canonical import canonical_json
from services.proof import merkle, note

FORMAT = "shouwen.dispute-bundle/1"
GENESIS = b"\x00" * 32


class BundleUnreadable(ValueError):
    pass


class BundleInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Verified:
    case_id: str
    events: int
    not_covered: int
    checkpoint: note.Checkpoint

    def summary(self) -> str:
        cp = self.checkpoint
        later = f"; {self.not_covered} later event(s) not yet in a checkpoint, not proven" \
            if self.not_covered else ""
        return (f"OK: case {self.case_id}: {self.events} event(s), hashes and chain intact,"
                f" each included in checkpoint {cp.origin} #{cp.tree_size} (root"
                f" {cp.root_hash.hex()[:16]}…, {cp.body().split(chr(10))[3]}), signed by key"
                f" {cp.key_id.hex()}{later}")


def read_bundle(path: Path) -> dict[str, Any]:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                raw = zf.read("bundle.json")
        else:
            raw = path.read_bytes()
        doc = orjson.loads(raw)
    except (OSError, KeyError, zipfile.BadZipFile, orjson.JSONDecodeError) as exc:
        raise BundleUnreadable(f"{path}: not a readable bundle ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BundleUnreadable(f"{path}: not a {FORMAT} document")
    return doc


def _hex(value: Any, what: str) -> bytes:
    try:
        out = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise BundleInvalid(f"{what} is not hex") from None
    if len(out) != 32:
        raise BundleInvalid(f"{what} is not 32 bytes")
    return out


def verify_bundle(doc: dict[str, Any], key: Ed25519PublicKey) -> Verified:
    try:
        cp = note.from_json(doc.get("checkpoint"))
        cp.verify(key)
    except note.CheckpointError as exc:
        raise BundleInvalid(f"checkpoint: {exc}") from None
    case_id, events = doc.get("case_id"), doc.get("events")
    if not isinstance(events, list) or not events:
        raise BundleInvalid("events: the bundle holds no events")
    prev = GENESIS
    for n, item in enumerate(events, start=1):
        _verify_event(item, n, case_id, prev, cp)
        prev = bytes.fromhex(item["hash"])
    later = doc.get("not_covered") or []
    return Verified(str(case_id), len(events), len(later), cp)


def _verify_event(
    item: Any, n: int, case_id: Any, prev: bytes, cp: note.Checkpoint
) -> None:
    env = item.get("envelope") if isinstance(item, dict) else None
    if not isinstance(env, dict):
        raise BundleInvalid(f"event #{n}: no envelope")
    name = f"event {env.get('id')} (version {env.get('sequence')})"
    if env.get("subject") != case_id:
        raise BundleInvalid(f"{name}: belongs to {env.get('subject')!r}, not case {case_id!r}")
    if env.get("sequence") != n:
        raise BundleInvalid(f"{name}: expected version {n}: an event is missing or moved")
    digest, prev_hash = _hex(item.get("hash"), f"{name}: hash"), _hex(
        item.get("prev_hash"), f"{name}: prev_hash")
    try:
        content = canonical_json(env)
    except (TypeError, ValueError) as exc:
        raise BundleInvalid(f"{name}: its envelope cannot be canonicalised ({exc})") from None
    if hashlib.sha256(prev_hash + content).digest() != digest:
        raise BundleInvalid(f"{name}: altered: its content does not match its hash")
    if prev_hash != prev:
        raise BundleInvalid(f"{name}: its prev_hash does not link to the previous event")
    proof, seq = item.get("inclusion_proof"), item.get("seq")
    if not isinstance(proof, list) or not isinstance(seq, int):
        raise BundleInvalid(f"{name}: no inclusion proof")
    path = [_hex(p, f"{name}: inclusion proof") for p in proof]
    if not merkle.verify_inclusion(merkle.leaf_hash(digest), seq - 1, cp.tree_size, path,
                                   cp.root_hash):
        raise BundleInvalid(
            f"{name}: its inclusion proof (commit seq {seq}) does not lead to the root of"
            f" checkpoint #{cp.tree_size}"
        )
