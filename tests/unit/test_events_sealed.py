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


def notice(subject: str, address: str | None = "13800000000") -> Any:
    from events.notification import NotificationSent

    return new_event(NotificationSent(
        source_event_id="ev-1", recipient_kind="inquirer", channel="sms", address=address,
        template="inquirer/receipt", language="zh-CN", attempts=1, message="张三您好"),
        subject=subject, actor="service:notification")


def test_a_batch_seals_as_one_at_a_time_would_each_field_with_its_own_nonce() -> None:
    from events.sealed import seal_many

    other = os.urandom(32)
    events = [notice(f"C-{i}") for i in range(50)] + [delivered()]
    keys = [("inq-1", KEY) if i % 2 else ("inq-2", other) for i in range(len(events))]
    datas = seal_many([(e.type, e.id, e.data, kid, key)
                       for e, (kid, key) in zip(events, keys, strict=True)])
    d = Decryptor(Keys({"inq-1": KEY, "inq-2": other}))
    for e, data, (kid, _) in zip(events, datas, keys, strict=True):
        assert "张三" not in str(data) and "13800000000" not in str(data)
        tokens = tokens_in(e.type, data)
        assert tokens and all(t.startswith(f"enc:v1:{kid}:") for t in tokens)
        assert d.open_data(e.type, e.id, data) == e.data  # the AAD: this event, this field
    nonces = [t.rsplit(":", 1)[1][:16] for e, data in zip(events, datas, strict=True)
              for t in tokens_in(e.type, data)]
    assert len(set(nonces)) == len(nonces) == 2 * 50 + 4


def test_data_with_nothing_to_seal_comes_back_as_it_is() -> None:
    e = notice("C-1", address=None)
    bare = {**e.data, "message": None}
    assert seal_data(e.type, e.id, bare, "inq-1", KEY) is bare
    sealed = seal_data(e.type, e.id, e.data, "inq-1", KEY)
    assert seal_data(e.type, e.id, sealed, "inq-1", KEY) == sealed  # tokens are kept


def test_a_batch_never_takes_a_nonce_another_caller_got() -> None:
    from events.sealed import _NONCES, _Batch

    prefix, first = _NONCES.take(5)
    batch = _Batch()
    token = batch.seal(seal_aead(), "enc:v1:inq-1:", b"x", "y")
    after_prefix, after = _NONCES.take(1)
    raw = _raw(token)
    assert raw[:8] == prefix == after_prefix
    assert first + 5 <= int.from_bytes(raw[8:12], "big") < after


def test_the_counter_runs_out_into_a_fresh_field() -> None:
    from events.sealed import _Nonces

    n = _Nonces()
    n._count = 2**32 - 3
    prefix, first = n.take(2)
    assert first == 2**32 - 3
    again, start = n.take(2)  # 2**32 - 1 and 2**32 would be past the end: a new field
    assert start == 0 and again != prefix
    assert n.next()[:8] == again


def seal_aead() -> Any:
    from events.sealed import aead_for

    return aead_for(KEY)


def _raw(token: str) -> bytes:
    import base64

    blob = token.rsplit(":", 1)[1]
    return base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))


def test_tokens_are_unpadded_url_safe_base64() -> None:
    import base64

    from events.sealed import _b64url

    for n in range(0, 70):
        raw = os.urandom(n)
        assert _b64url(raw) == base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
