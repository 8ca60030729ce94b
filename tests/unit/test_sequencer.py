"""sequencer.order_for_commit: which committed events can take their place in commit order."""

from __future__ import annotations

from services.relay.sequencer import Candidate, global_hash, order_for_commit


def cand(stream: str, version: int, txid: int, position: int | None = None) -> Candidate:
    pos = position if position is not None else txid * 10 + version
    return Candidate(pos, f"{stream}-{version}", stream, version, bytes([version]), txid)


def keys(cs: list[Candidate]) -> list[tuple[str, int]]:
    return [(c.stream_id, c.version) for c in cs]


def test_independent_streams_keep_txid_order():
    cs = [cand("A", 1, 100), cand("B", 1, 101), cand("A", 2, 102)]
    ready, deferred = order_for_commit(cs, {})
    assert keys(ready) == [("A", 1), ("B", 1), ("A", 2)]
    assert deferred == []


def test_later_version_with_earlier_txid_waits_for_its_predecessor():
    # the writer of A2 took its txid (99) before the writer of A1 (100) committed
    cs = [cand("A", 2, 99), cand("B", 1, 99), cand("A", 1, 100)]
    ready, deferred = order_for_commit(cs, {})
    assert keys(ready) == [("B", 1), ("A", 1), ("A", 2)]  # B1 keeps its place
    assert deferred == []


def test_event_whose_predecessor_is_not_final_is_deferred():
    cs = [cand("A", 3, 99), cand("B", 1, 100)]
    ready, deferred = order_for_commit(cs, {"A": 1})  # A2 not among the candidates yet
    assert keys(ready) == [("B", 1)]
    assert keys(deferred) == [("A", 3)]


def test_heads_continue_a_stream_already_in_commit_log():
    cs = [cand("A", 5, 200), cand("A", 4, 201)]
    ready, deferred = order_for_commit(cs, {"A": 3})
    assert keys(ready) == [("A", 4), ("A", 5)]
    assert deferred == []


def test_everything_after_a_missing_version_waits():
    cs = [cand("A", 2, 10), cand("A", 4, 11), cand("A", 5, 12)]
    ready, deferred = order_for_commit(cs, {"A": 1})
    assert keys(ready) == [("A", 2)]
    assert keys(deferred) == [("A", 4), ("A", 5)]


def test_one_transaction_writing_several_versions_stays_in_version_order():
    cs = [cand("A", 1, 7, position=3), cand("A", 2, 7, position=4), cand("A", 3, 7, position=5)]
    ready, _ = order_for_commit(cs, {})
    assert keys(ready) == [("A", 1), ("A", 2), ("A", 3)]


def test_nothing_is_lost_or_doubled_whatever_the_interleaving():
    cs = [cand(s, v, txid=(7 * v + ord(s)) % 13) for s in "ABC" for v in range(1, 6)]
    cs.sort(key=lambda c: (c.txid, c.position))
    ready, deferred = order_for_commit(cs, {})
    assert sorted(keys(ready)) == sorted(keys(cs))
    assert deferred == []
    for s in "ABC":
        assert [c.version for c in ready if c.stream_id == s] == [1, 2, 3, 4, 5]


def test_global_hash_chains_prev_and_event_hash():
    assert global_hash(b"\0" * 32, b"x") != global_hash(b"\1" * 32, b"x")
    assert len(global_hash(b"\0" * 32, b"x")) == 32
