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
    check_rendered(doc, files)   what the verified events can vouch for among the rendered
        parts: proof.html is regenerated from the verified document and must be identical;
        each step of the history (version, type, time, actor, event id, hash) must be the
        verified event's. Names, posts, descriptions and deadlines in the history
        (bundle.json, history.html, history.pdf) come from the store and the directory when
        the bundle was made: the summary says plainly that they were NOT verified.

Reads are bounded (a zip bomb is unreadable, exit 2, not a process killed for memory).
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
    bound: tuple[str, ...] = ()  # rendered parts checked against the verified events

    def summary(self) -> str:
        cp = self.checkpoint
        later = f"; {self.not_covered} later event(s) not yet in a checkpoint, not proven" \
            if self.not_covered else ""
        return (f"OK: case {self.case_id}: {self.events} event(s), hashes and chain intact,"
                f" each included in checkpoint {cp.origin} #{cp.tree_size} (root"
                f" {cp.root_hash.hex()[:16]}…, {cp.body().split(chr(10))[3]}), signed by key"
                f" {cp.key_id.hex()}{later}\n"
                f"bound to these events: {', '.join(self.bound) or 'nothing rendered'}\n"
                f"NOT verified: the names, posts, descriptions and deadlines in the history"
                f" (bundle.json history, history.html, history.pdf) and who made the bundle"
                f" when: rendered from the store and the directory when it was made; read"
                f" them against the verified events above")


MAX_MEMBER = 64 * 1024 * 1024  # bytes of bundle.json (a case's events: a few megabytes)
RENDERED = ("proof.html", "history.html", "history.pdf")


def _member(zf: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """One member, never more than MAX_MEMBER bytes in memory whatever its header says."""
    info = zf.getinfo(name)
    if info.file_size > MAX_MEMBER:
        raise BundleUnreadable(f"{path}: {name} would expand to {info.file_size:,} bytes,"
                               f" more than {MAX_MEMBER:,}: refused (a zip bomb?)")
    with zf.open(info) as f:
        data = f.read(MAX_MEMBER + 1)
    if len(data) > MAX_MEMBER:
        raise BundleUnreadable(f"{path}: {name} expands beyond {MAX_MEMBER:,} bytes: refused")
    return data


def read_rendered(path: Path) -> dict[str, bytes]:
    """The rendered members of a zip bundle present in it (none for a bare bundle.json)."""
    if not zipfile.is_zipfile(path):
        return {}
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            return {n: _member(zf, n, path) for n in RENDERED if n in names}
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError) as exc:
        if isinstance(exc, BundleUnreadable):
            raise
        raise BundleUnreadable(f"{path}: not a readable bundle ({exc})") from None


def read_bundle(path: Path) -> dict[str, Any]:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                raw = _member(zf, "bundle.json", path)
        else:
            if path.stat().st_size > MAX_MEMBER:
                raise BundleUnreadable(f"{path}: larger than {MAX_MEMBER:,} bytes: refused")
            raw = path.read_bytes()
        doc = orjson.loads(raw)
    except BundleUnreadable:
        raise
    except (OSError, KeyError, zipfile.BadZipFile, orjson.JSONDecodeError, RuntimeError,
            ValueError, EOFError) as exc:  # RuntimeError: encrypted; EOFError: truncated
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


def check_rendered(doc: dict[str, Any], files: dict[str, bytes], verified: Verified) -> Verified:
    """proof.html regenerated from the verified document must be identical; each history
    step must name a verified event as it is. BundleInvalid names the first mismatch."""
    from dataclasses import replace

    from services.proof.history import render_html

    bound: list[str] = []
    if "proof.html" in files:
        if files["proof.html"] != render_html(doc).encode():
            raise BundleInvalid("proof.html: does not match the verified events (regenerated"
                                " from them, it differs)")
        bound.append("proof.html (regenerated, identical)")
    by_version = {e["envelope"]["sequence"]: e for e in doc["events"]}
    history = doc.get("history")
    steps = history.get("steps") if isinstance(history, dict) else history
    if isinstance(steps, list):
        for n, step in enumerate(steps, start=1):
            _check_step(step, n, by_version)
        bound.append("the history's steps (version, type, time, actor, event id, hash)")
    return replace(verified, bound=tuple(bound))


def _check_step(step: Any, n: int, by_version: dict[Any, dict[str, Any]]) -> None:
    if not isinstance(step, dict):
        raise BundleInvalid(f"history step #{n}: not an object")
    item = by_version.get(step.get("version"))
    if item is None:
        return  # a later event, not covered by the checkpoint: listed as not proven
    env = item["envelope"]
    actor = step.get("actor")
    ref = actor.get("ref") if isinstance(actor, dict) else actor
    claims = {"type": (step.get("type"), env.get("type")), "actor": (ref, env.get("actor")),
              "event id": (step.get("event_id", env.get("id")), env.get("id")),
              "hash": (step.get("hash", item["hash"]), item["hash"])}
    for what, (said, proven) in claims.items():
        if said != proven:
            raise BundleInvalid(f"history step #{n} (version {step.get('version')}): its"
                                f" {what} {said!r} is not the verified event's {proven!r}")
    if not _same_instant(step.get("time"), env.get("time")):
        raise BundleInvalid(f"history step #{n} (version {step.get('version')}): its time"
                            f" {step.get('time')!r} is not the verified event's")


def _same_instant(a: Any, b: Any) -> bool:
    from datetime import datetime

    try:
        return bool(datetime.fromisoformat(str(a).replace("Z", "+00:00"))
                    == datetime.fromisoformat(str(b).replace("Z", "+00:00")))
    except ValueError:
        return False
