"""Sealing personal fields and opening them again (events/sealed.py): pure, no database."""

from __future__ import annotations

import os
from typing import Any

import pytest

from events import new_event
from events.case_outcome import PickupRecord, ResultDelivered
from events.sealed import ERASED, Decryptor, seal_data, tokens_in
from services.common.eventstore import EventValidationError, validate

KEY = os.urandom(32)


class Keys:
    def __init__(self, keys: dict[str, bytes | None]) -> None:
        self.keys, self.loads = keys, 0

    def load(self, kids: Any, conn: Any) -> dict[str, bytes | None]:
        self.loads += 1
        return {k: self.keys.get(k) for k in kids}


def delivered():
    return new_event(ResultDelivered(
        method="pick_up", recipient_name="张三", recipient_contact="13800000000",
        pickup_record=PickupRecord(record_number="P1", collector_name="李四",
                                   collector_id_number="110101199001011234",
                                   picked_up_at="2026-11-02T01:00:00Z")),
        subject="C-1", actor="staff:ZX005")


def test_every_personal_field_nested_or_not_is_sealed_and_the_rest_kept() -> None:
    e = delivered()
    data = seal_data(e.type, e.id, e.data, "inq-1", KEY)
    assert data["method"] == "pick_up" and data["pickup_record"]["record_number"] == "P1"
    assert len(tokens_in(e.type, data)) == 4
    assert "张三" not in str(data) and "110101199001011234" not in str(data)
    validate(e.model_copy(update={"data": data}))  # the schema admits the tokens


def test_the_decryptor_opens_them_with_one_key_lookup_then_from_its_cache() -> None:
    e = delivered()
    sealed = e.model_copy(update={"data": seal_data(e.type, e.id, e.data, "inq-1", KEY)})
    source = Keys({"inq-1": KEY})
    d = Decryptor(source)
    assert d.open_events([sealed, sealed], None)[1].data == e.data
    assert d.open_event(sealed).data == e.data
    assert source.loads == 1 and d.misses == 1 and d.hits == 1


def test_a_destroyed_key_reads_as_erased_never_an_error() -> None:
    e = delivered()
    sealed = e.model_copy(update={"data": seal_data(e.type, e.id, e.data, "inq-1", KEY)})
    opened = Decryptor(Keys({"inq-1": None})).open_event(sealed).data
    assert opened["recipient_name"] == ERASED
    assert opened["pickup_record"]["collector_id_number"] == ERASED


def test_a_token_moved_to_another_event_or_field_does_not_open() -> None:
    e, other = delivered(), delivered()
    data = seal_data(e.type, e.id, e.data, "inq-1", KEY)
    swapped = {**data, "recipient_name": data["recipient_contact"]}
    d = Decryptor(Keys({"inq-1": KEY}))
    assert d.open_data(e.type, e.id, swapped)["recipient_name"] == ERASED
    assert d.open_data(other.type, other.id, data)["recipient_name"] == ERASED
    assert d.failures == 1 + 4  # one moved field; every field of the other event


def test_plain_values_over_the_limit_are_refused_as_before() -> None:
    e = delivered()
    bad = e.model_copy(update={"data": {**e.data, "recipient_name": "张" * 501}})
    with pytest.raises(EventValidationError, match="recipient_name"):
        validate(bad)


def test_nonces_never_repeat_and_a_forked_child_draws_its_own() -> None:
    from events.sealed import _NONCES

    seen = {_NONCES.next() for _ in range(10_000)}
    assert len(seen) == 10_000
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next nonce
        os.write(write, _NONCES.next())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 12)
    assert child[:8] != _NONCES.next()[:8]
