"""Signed checkpoint notes and offline bundle verification, on bundles built in memory.

A bundle here is made the way `shouwen bundle` makes one (envelopes, chained hashes,
inclusion proofs against a signed checkpoint over a log with another case's events
interleaved), then damaged one way at a time: each damage must be named.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events import new_event
from events.canonical import canonical_dict
from events.case import CaseReceived
from services.common.eventstore import GENESIS, chain_hash
from services.proof import merkle, note
from services.proof.verify import FORMAT, BundleInvalid, verify_bundle

KEY = Ed25519PrivateKey.generate()
WHEN = datetime(2026, 11, 26, 8, 30, 0, 123456, tzinfo=UTC)


def _received(case_id: str, n: int):
    payload = CaseReceived(
        channel="window", receipt_number=f"R-{case_id}-{n}", unit_id="U1",
        matter=f"补办社保卡 {n}", inquirer_name="张三", inquirer_phone="13800000000",
        first_responder_id="S1", first_responder_name="李四", first_responder_duty="窗口受理",
        first_responder_contact="0935-1234567",
    )
    return new_event(payload, subject=case_id, actor="staff:S1")


def make_bundle(key: Ed25519PrivateKey = KEY) -> dict:
    """Case C-1 (4 events) interleaved with C-2 (3 events) in commit order."""
    heads = {"C-1": GENESIS, "C-2": GENESIS}
    versions = {"C-1": 0, "C-2": 0}
    log, mine = [], []
    for case_id in ["C-2", "C-1", "C-1", "C-2", "C-1", "C-2", "C-1"]:
        versions[case_id] += 1
        event = _received(case_id, versions[case_id]).with_sequence(versions[case_id])
        digest = chain_hash(heads[case_id], event)
        log.append(digest)
        if case_id == "C-1":
            mine.append({"envelope": canonical_dict(event), "prev_hash": heads[case_id].hex(),
                         "hash": digest.hex(), "seq": len(log)})
        heads[case_id] = digest
    tree = merkle.MemoryTree([merkle.leaf_hash(d) for d in log])
    cp = note.sign("shouwen.test/log", len(log), merkle.root(tree, len(log)), WHEN, key)
    for item in mine:
        proof = merkle.inclusion_proof(tree, item["seq"] - 1, len(log))
        item["inclusion_proof"] = [p.hex() for p in proof]
    return {"format": FORMAT, "case_id": "C-1", "checkpoint": cp.to_json(), "events": mine,
            "not_covered": []}


def test_a_good_bundle_verifies():
    result = verify_bundle(make_bundle(), KEY.public_key())
    assert (result.events, result.checkpoint.tree_size) == (4, 7)
    assert result.summary().startswith("OK: case C-1: 4 event(s)")


def test_a_note_round_trips_and_names_its_key():
    cp = note.sign("shouwen.test/log", 7, b"\x01" * 32, WHEN, KEY)
    again = note.parse_note(cp.note())
    assert again == cp
    again.verify(KEY.public_key())
    assert cp.note().splitlines()[:4] == [
        "shouwen.test/log", "7", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        "time 2026-11-26T08:30:00.123456Z"]


@pytest.mark.parametrize("text", [
    "", "junk", "o\n7\nAAAA\ntime x\n\n— o AAAA\n",
    note.sign("o", 7, b"\x01" * 32, WHEN, KEY).note().replace("\n7\n", "\n07\n"),
    note.sign("o", 7, b"\x01" * 32, WHEN, KEY).note().replace("— o ", "— o  "),
])
def test_a_malformed_note_is_refused(text):
    with pytest.raises(note.CheckpointError):
        note.parse_note(text)


def _damage(path: str, value) -> dict:
    bundle = make_bundle()
    target = bundle
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value(target[last]) if callable(value) else value
    return bundle


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "named"), [
    ("events.1.envelope.data.matter", "改过的", "version 2): altered"),
    ("events.2.inclusion_proof", _DELETE, "version 3): no inclusion proof"),
    ("events.0.inclusion_proof", lambda p: p[:-1], "version 1): its inclusion proof"),
    ("events.3.seq", lambda s: s - 1, "version 4): its inclusion proof"),
    ("events.2.hash", lambda h: ("0" if h[0] != "0" else "1") + h[1:], "version 3): altered"),
    ("events.1.envelope.sequence", 3, "expected version 2"),
    ("events.0.envelope.subject", "C-2", "belongs to 'C-2'"),
    ("checkpoint.root_hash", "00" * 32, "checkpoint: checkpoint field 'root_hash' disagrees"),
    ("checkpoint", lambda c: {"note": c["note"].replace("\n7\n", "\n8\n")},
     "signature does not verify"),
])
def test_each_damage_is_named(path, value, named):
    with pytest.raises(BundleInvalid, match=named.replace("(", r"\(").replace(")", r"\)")):
        verify_bundle(_damage(path, value), KEY.public_key())


def test_a_tampered_byte_in_the_data_is_caught():
    bundle = make_bundle()
    tampered = copy.deepcopy(bundle)
    tampered["events"][0]["envelope"]["data"]["inquirer_phone"] = "13800000001"
    with pytest.raises(BundleInvalid, match="altered"):
        verify_bundle(tampered, KEY.public_key())


def test_a_removed_event_breaks_the_chain():
    bundle = make_bundle()
    del bundle["events"][1]
    with pytest.raises(BundleInvalid, match="expected version 2"):
        verify_bundle(bundle, KEY.public_key())


def test_the_wrong_key_is_refused():
    with pytest.raises(BundleInvalid, match="signed by key"):
        verify_bundle(make_bundle(), Ed25519PrivateKey.generate().public_key())


def test_a_bundle_re_signed_by_another_key_is_refused():
    forged = make_bundle(Ed25519PrivateKey.generate())
    with pytest.raises(BundleInvalid, match="checkpoint"):
        verify_bundle(forged, KEY.public_key())
