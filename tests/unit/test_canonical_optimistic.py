"""The hash checkers' one fast path (events/canonical.py optimistic_json): RFC 8785 bytes
for a plain document, b"" where orjson cannot write one, never a false match."""

from __future__ import annotations

import rfc8785

from events.canonical import canonical_json, optimistic_json


def test_a_plain_document_gets_the_canonical_bytes():
    doc = {"b": [1, "二", None, True], "a": {"z": "\u2028", "y": -(2**53 - 1)}}
    assert optimistic_json(doc) == canonical_json(doc) == rfc8785.dumps(doc)


def test_what_orjson_cannot_write_gives_no_bytes_so_a_hash_never_matches_by_accident():
    assert optimistic_json({"n": 2**70}) == b""
    assert optimistic_json({"s": "\ud800"}) == b""  # a lone surrogate
