"""The hostile corpus: bad input of every class, generated per operation of an app.

    probes(doc, fill)   for every operation of an OpenAPI document: each path parameter,
                        each query parameter and the JSON body (whole, and each property in
                        turn) given a value of each class below
    Probe.must_refuse   True when no sane server may accept it (a 4xx is required);
                        otherwise it must only not crash (no 5xx)

Classes: non-finite numbers (NaN, Infinity, 1e309), NUL and control bytes, lone surrogates,
invalid UTF-8, oversize bodies and fields, deep nesting, duplicate keys, wrong types,
out-of-range dates, path traversal in ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

MB = 1024 * 1024


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    what: str  # class and place, for the failure message
    must_refuse: bool
    query: str = ""
    body: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


# path segments (already percent-encoded): each must be refused or not found
PATH_VALUES = {
    "NUL": "C-%00", "control": "C-%1B%0A", "invalid UTF-8": "%FF%FE", "lone surrogate":
    "%ED%A0%80", "path traversal": "..%2F..%2Fetc%2Fpasswd",
    "oversize": "C-" + "a" * 5000, "traversal with NUL": "C-x%2F..%00",
}
# query values: (encoded value, must be refused)
QUERY_VALUES = {
    "NUL": ("%00", True), "control": ("a%1Bb", True), "invalid UTF-8": ("%FF%FE", True),
    "lone surrogate": ("%ED%A0%80", True), "NaN": ("NaN", False), "Infinity": ("Infinity", False),
    "1e309": ("1e309", False), "year 9999": ("9999-12-31", False),
    "year 1": ("0001-01-01T00:00:00%2B14:00", False), "negative": ("-1", False),
    "oversize": ("x" * 20000, False), "path traversal": ("..%2F..%2Fetc%2Fpasswd", False),
}
# whole JSON bodies: all must be refused (none is a valid command)
BODIES: dict[str, bytes] = {
    "NaN": b'{"x": NaN}', "Infinity": b'{"x": -Infinity}', "1e309": b'{"x": 1e309}',
    "NaN in array": b'[1, NaN]',
    "duplicate keys": b'{"reason": "a", "reason": "b"}',
    "deep arrays": b"[" * 10000 + b"]" * 10000,
    "deep objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "invalid UTF-8": b'{"x": "\xff\xfe"}',
    "lone surrogate": b'{"x": "\\ud800"}',
    "NUL": b'{"x": "a\\u0000b"}',
    "oversize": b'{"x": "' + b"x" * (2 * MB) + b'"}',
    "wrong type: array": b"[]", "wrong type: string": b'"x"', "wrong type: number": b"1",
    "wrong type: null": b"null", "not JSON": b"{not json", "huge integer": b'{"x": ' +
    b"9" * 5000 + b"}",
}
# a property's value, as raw JSON text: all must be refused
PROPERTY_VALUES: dict[str, bytes] = {
    "NaN": b"NaN", "Infinity": b"Infinity", "1e309": b"1e309",
    "NUL": b'"a\\u0000b"', "lone surrogate": b'"\\udc00"',
    "oversize field": b'"' + "长".encode() * 200_000 + b'"',
    "deep": b"[" * 200 + b"]" * 200,
    "wrong type": b'{"nested": {"object": true}}',
}
DATE_VALUES = {"year 9999": b'"9999-12-31"', "year 1": b'"0001-01-01"',
               "year 9999 time": b'"9999-12-31T23:59:59+00:00"'}


def probes(doc: dict[str, Any], fill: Callable[[str], str]) -> Iterator[Probe]:
    """``fill(name)`` gives a valid value for a path parameter, so the other parts are
    probed behind a path that exists."""
    for template, ops in doc["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            method = method.upper()
            params = op.get("parameters", [])
            names = [p["name"] for p in params if p["in"] == "path"]
            good = template
            for n in names:
                good = good.replace("{" + n + "}", quote(fill(n), safe=""))
            for n in names:
                for what, value in PATH_VALUES.items():
                    path = template
                    for m in names:
                        path = path.replace("{" + m + "}", value if m == n else
                                            quote(fill(m), safe=""))
                    yield Probe(method, path, f"path {n}: {what}", True,
                                body=b"{}" if method == "POST" else None)
            for p in (p for p in params if p["in"] == "query"):
                for what, (value, refuse) in QUERY_VALUES.items():
                    yield Probe(method, good, f"query {p['name']}: {what}", refuse,
                                query=f"{quote(p['name'])}={value}")
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                for what, body in BODIES.items():
                    yield Probe(method, good, f"body: {what}", True, body=body)
                schema = _resolve(doc, content["application/json"].get("schema", {}))
                for prop, sub in (schema.get("properties") or {}).items():
                    values = dict(PROPERTY_VALUES)
                    if _is_date(doc, sub):
                        values.update(DATE_VALUES)
                    for what, raw in values.items():
                        body = b'{"' + prop.encode() + b'": ' + raw + b"}"
                        yield Probe(method, good, f"body.{prop}: {what}", True, body=body)
            if "application/x-www-form-urlencoded" in content:
                yield from form_probes(method, good, ["service_code", "description",
                                                      "first_name", "phone", "lat"])


FORM_VALUES: dict[str, tuple[bytes, bool]] = {
    "NUL": (b"a%00b", True), "invalid UTF-8": (b"%FF%FE", True),
    "lone surrogate": (b"%ED%A0%80", True), "overlong UTF-8": (b"%C0%AF", True),
    "CR LF": (b"a%0D%0Ab", False), "bidi override": (b"%E2%80%AEabc", False),
    "oversize field": (b"x" * 300_000, False), "oversize body": (b"x" * (2 * MB), True),
    "NaN": (b"NaN", False), "1e309": (b"1e309", False),
}


def form_probes(method: str, path: str, fields: list[str],
                extra: dict[str, str] | None = None) -> Iterator[Probe]:
    base = "&".join(f"{k}={quote(v)}" for k, v in (extra or {}).items())
    for what, value in (("multipart NUL", b"a\x00b"), ("multipart invalid UTF-8", b"\xff\xfe")):
        parts = [*(extra or {}).items(), (fields[0], value)]
        body = b"".join(b"--XyZ\r\nContent-Disposition: form-data; name=\"" + k.encode()
                        + b"\"\r\n\r\n" + (v if isinstance(v, bytes) else v.encode())
                        + b"\r\n" for k, v in parts) + b"--XyZ--\r\n"
        yield Probe(method, path, f"form {fields[0]}: {what}", True, body=body,
                    content_type="multipart/form-data; boundary=XyZ")
    for name in fields:
        for what, (value, refuse) in FORM_VALUES.items():
            body = (base + "&" if base else "").encode() + name.encode() + b"=" + value
            yield Probe(method, path, f"form {name}: {what}", refuse, body=body,
                        content_type="application/x-www-form-urlencoded")


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        target: Any = doc
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        return _resolve(doc, target)
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, []):
            resolved = _resolve(doc, option)
            if resolved.get("properties"):
                return resolved
    return schema


def _is_date(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    options = [schema, *schema.get("anyOf", [])]
    return any(_resolve(doc, o).get("format") in ("date", "date-time") for o in options)
