"""One case's hash chain, checked while it is replayed. Pure.

    check_chain(recorded events of the stream, commit_log rows (version, event_hash))
      versions 1..n without a gap; prev_hash = the previous event's hash (zeros before 1);
      hash = sha256(prev_hash || canonical bytes) recomputed (events.canonical, RFC 8785);
      every commit_log row of the stream still finds its event with the same hash (so
      the newest events cannot be cut off unnoticed once the sequencer has placed them)

Speed, as in integrity.py: orjson with sorted keys gives RFC 8785's bytes for every
document without floats; when that quick hash does not match, the reference canonical
bytes decide, so no event is called altered on the quick path alone.

The same rules as ``shouwen verify --stream`` (services/common/integrity.py), which also
walks the global chain; a replay checks its own case only, to stay quick.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pydantic import BaseModel

from events.canonical import canonical_dict, optimistic_json
from services.common.eventstore import GENESIS, RecordedEvent, chain_hash


class ChainCheck(BaseModel):
    ok: bool
    events_checked: int
    head_version: int
    head_hash: str | None
    problems: list[str]

    def summary(self) -> str:
        if self.ok:
            return (f"hash chain intact: {self.events_checked} event(s) verified,"
                    f" head v{self.head_version} {self.head_hash}")
        return "HASH CHAIN BROKEN: " + "; ".join(self.problems)


def check_chain(recorded: Sequence[RecordedEvent],
                committed: Sequence[tuple[int, bytes]]) -> ChainCheck:
    problems: list[str] = []
    prev, expected = GENESIS, 1
    hashes: dict[int, bytes] = {}
    for r in recorded:
        version = r.event.sequence or 0
        if version != expected:
            problems.append(f"version {version} follows version {expected - 1}"
                            " (an event is missing or out of order)")
        if r.prev_hash != prev:
            problems.append(f"version {version} is not linked to its predecessor")
        if _quick_hash(r) != r.hash and chain_hash(r.prev_hash, r.event) != r.hash:
            problems.append(f"version {version} was altered: its content does not match its hash")
        hashes[version] = r.hash
        prev, expected = r.hash, version + 1
    for version, event_hash in committed:
        if version not in hashes:
            problems.append(f"version {version} is in the commit log but not in the store"
                            " (removed)")
        elif hashes[version] != event_hash:
            problems.append(f"version {version} differs from the commit log's hash")
    head = recorded[-1] if recorded else None
    return ChainCheck(ok=not problems, events_checked=len(recorded),
                      head_version=(head.event.sequence or 0) if head else 0,
                      head_hash=head.hash.hex() if head else None, problems=problems)


def _quick_hash(r: RecordedEvent) -> bytes:
    return hashlib.sha256(r.prev_hash + optimistic_json(canonical_dict(r.event))).digest()
