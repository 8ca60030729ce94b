"""The door every HTTP request of every Shouwen app passes first (pure ASGI middleware).

    the target   a NUL or control byte, or bytes that are not UTF-8, in the path or the
                 query (percent-decoded)                                  -> 400
    the size     Content-Length or the bytes read over the limit
                 (SHOUWEN_MAX_BODY_BYTES, default 1 MiB), never read whole  -> 413
    a JSON body  not UTF-8, or nested deeper than SHOUWEN_MAX_JSON_DEPTH    -> 400
                 NaN / Infinity / a number beyond float (1e309), a duplicate key, a
                 lone surrogate or a NUL in a string                        -> 422, naming the key
    a form body  a value that is not UTF-8 once percent-decoded, or holds a NUL -> 400
    multipart    no route takes files                                       -> 415

Each refusal is a problem document (services.common.problems) and happens before any
route, so nothing is written and PostgreSQL never sees the bytes. A body that passes is
handed on byte for byte; syntax errors are left to the app (FastAPI's 422).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from services.common.problems import problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_DEPTH = 32
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class InputGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY,
                 max_json_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.app, self.max_body, self.max_depth = app, max_body_bytes, max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", ())}
        try:
            check_target(scope)
            length = _content_length(headers.get("content-length"))
            if length is not None and length > self.max_body:
                raise Refused(413, f"body: larger than {self.max_body} bytes")
            if length is None and b"chunked" not in headers.get("transfer-encoding", b""):
                await self.app(scope, receive, send)  # no body announced: nothing to check
                return
            body = await self._read(receive)
            if body is None:
                return  # the client went away
            check_body(headers.get("content-type", b"").decode("latin-1"), body,
                       self.max_depth)
        except Refused as no:
            await problem(no.status, no.detail)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_body:
                raise Refused(413, f"body: larger than {self.max_body} bytes")
            if not message.get("more_body", False):
                return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _content_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit():
        raise Refused(400, "Content-Length: not a number")
    return int(value)


def check_target(scope: Scope) -> None:
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    _clean(unquote_to_bytes(raw), "path")
    query: bytes = scope.get("query_string", b"")
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        field = _name(name)
        _clean(unquote_to_bytes(name.replace(b"+", b" ")), "query")
        _clean(unquote_to_bytes(value.replace(b"+", b" ")), f"query.{field}")


def _clean(data: bytes, where: str) -> None:
    if _CONTROL.search(data):
        raise Refused(400, f"{where}: a NUL or control byte is not allowed")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, f"{where}: not UTF-8") from None


def _name(raw: bytes) -> str:
    name = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in name)[:64]


def check_body(content_type: str, body: bytes, max_depth: int) -> None:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind.startswith("multipart/"):  # no route takes files; its parser keeps bad bytes
        raise Refused(415, "body: send application/x-www-form-urlencoded or JSON, not"
                           " multipart")
    if kind == "application/x-www-form-urlencoded":
        for part in body.split(b"&"):
            name, _, value = part.partition(b"=")
            field = _name(name)
            for piece, where in ((name, "form"), (value, f"form.{field}")):
                data = unquote_to_bytes(piece.replace(b"+", b" "))
                if b"\x00" in data:
                    raise Refused(400, f"{where}: a NUL byte is not allowed")
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    raise Refused(400, f"{where}: not UTF-8") from None
    elif (kind in ("", "application/json") or kind.endswith("+json")) and body.strip():
        check_json(body, max_depth)


def check_json(body: bytes, max_depth: int) -> None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body: not UTF-8 JSON") from None
    if body.count(b"[") + body.count(b"{") > max_depth:
        _depth(body, max_depth)
    seen = _Seen()
    try:
        value = json.loads(text, parse_constant=seen.constant, parse_float=seen.number,
                           object_pairs_hook=seen.pairs)
    except Refused:
        raise
    except json.JSONDecodeError:
        return  # the app answers syntax errors (422, json_invalid)
    except (ValueError, RecursionError):  # e.g. an integer of more than 4300 digits
        raise Refused(422, "body: a number out of range") from None
    if seen.bad or _SUSPECT.search(body):
        _walk(value)


def _depth(body: bytes, limit: int) -> None:
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', body)):
        depth += 1 if m.group() in (b"[", b"{") else -1
        if depth > limit:
            raise Refused(400, f"body: nested deeper than {limit} levels")


class _NonFinite(float):
    pass


class _Seen:
    def __init__(self) -> None:
        self.bad = False

    def constant(self, name: str) -> float:
        self.bad = True
        return _NonFinite("nan")

    def number(self, text: str) -> float:
        value = float(text)
        if math.isfinite(value):
            return value
        self.bad = True
        return _NonFinite(value)

    def pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise Refused(422, f"{_shown(key)}: given twice (duplicate key)")
            if isinstance(value, _NonFinite):
                raise Refused(422, f"{_shown(key)}: NaN, Infinity and numbers beyond "
                                   f"±1.8e308 are not numbers here")
            out[key] = value
        return out


def _walk(value: Any) -> None:
    """Strings with a lone surrogate or a NUL, and non-finite numbers in arrays."""
    stack: list[tuple[str, Any]] = [("body", value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, _NonFinite):
            raise Refused(422, f"{where}: NaN, Infinity and numbers beyond ±1.8e308 are "
                               f"not numbers here")
        if isinstance(v, str):
            _text(v, where)
        elif isinstance(v, dict):
            for k, item in v.items():
                _text(k, where)
                stack.append((k if where == "body" else f"{where}.{_shown(k)}", item))
        elif isinstance(v, list):
            stack.extend((f"{where}.{i}", item) for i, item in enumerate(v))


def _text(s: str, where: str) -> None:
    if "\x00" in s:
        raise Refused(422, f"{_shown(where)}: text may not contain control characters (NUL)")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused(422, f"{_shown(where)}: a lone surrogate is not text") from None


def _shown(key: str) -> str:
    safe = "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else "?"
                   for c in key[:64])
    return safe + ("…" if len(key) > 64 else "")


def harden(app: Any, settings: Any) -> None:
    """Problem documents for every error, and the guard in front of every route; and no
    app at all in production without the identity provider's keys (Misconfigured)."""
    from services.common.auth import require_auth_settings
    from services.common.problems import install_problems

    require_auth_settings(settings)
    install_problems(app)
    app.add_middleware(InputGuard, max_body_bytes=settings.max_body_bytes,
                       max_json_depth=settings.max_json_depth)
