"""The fast canonical path produces exactly RFC 8785's bytes (the hash chain depends on it)."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from events.canonical import canonical_json

SAFE = 2**53 - 1
scalars = (st.none() | st.booleans() | st.integers(-SAFE, SAFE) | st.text()
           | st.floats(allow_nan=False, allow_infinity=False))
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(documents)
def test_fast_path_equals_rfc8785(document):
    assert canonical_json(document) == rfc8785.dumps(document)


def test_a_float_beside_text_that_looks_like_its_marker_is_still_canonical():
    doc: dict[str, Any] = {"confidence": 0.75, "note": "\x00rfc8785 float 0\x00",
                           "n": [1e21, 1e-7, 1.0]}
    assert canonical_json(doc) == rfc8785.dumps(doc)


def test_every_code_point_escapes_as_rfc8785_does():
    for cp in [*range(0, 0x2100), 0x2028, 0x2029, 0xFEFF, 0xFFFF, 0x1F600, 0x10FFFF]:
        doc = {"k": f"a{chr(cp)}b"}
        assert canonical_json(doc) == rfc8785.dumps(doc), hex(cp)


def test_documents_outside_the_fast_path_take_the_reference_path():
    # non-ASCII keys, floats: rfc8785 decides (key order by UTF-16, ES6 number format)
    doc = {"é": 1, "e": 2, "z": 1.5}
    assert canonical_json(doc) == b'{"e":2,"z":1.5,"\xc3\xa9":1}'


def test_integers_beyond_the_double_range_are_refused_as_rfc8785_refuses_them():
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json({"a": 2**60})



@settings(max_examples=300, deadline=None)
@given(documents, st.text(min_size=1, max_size=12), st.integers(1, SAFE),
       st.integers(0, 999_999), st.sampled_from(["stdlib", "uuid6", None]))
def test_an_event_composed_from_its_data_bytes_equals_rfc8785_of_the_whole(
        data, source, sequence, microsecond, correlation):
    from datetime import UTC, datetime
    from uuid import UUID

    import uuid6

    from events.canonical import canonical_bytes, canonical_dict
    from events.envelope import CloudEvent, new_id

    event = CloudEvent(id=new_id(), time=datetime(2026, 11, 27, 3, 4, 5, microsecond, tzinfo=UTC),
                       type="shouwen.case.received.v1", source=source, subject="C-1",
                       actor="staff:S-1", sequence=sequence,
                       causationid=uuid6.uuid7(),
                       correlationid={"stdlib": UUID(int=2**100 + microsecond),
                                      "uuid6": uuid6.uuid7(), None: None}[correlation],
                       data=data if isinstance(data, dict) else {"v": data})
    try:
        expected = rfc8785.dumps(canonical_dict(event))
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical_bytes(event)
        return
    assert canonical_bytes(event) == expected
