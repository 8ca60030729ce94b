"""Every error answer of every HTTP service is an RFC 9457 problem document.

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "body.inquirer_phone: not a phone number",
     "errors": [{"loc": ["body", "inquirer_phone"], "field": "inquirer_phone",
                 "msg": "not a phone number", "type": "value_error"}]}   (field errors)
    ... and the members a status adds (409: action, status, version / expected_version,
    actual_version; Open311: errors as [{"code", "description"}]), as extensions.

    problem(status, detail, headers=..., **extensions)   the response (application/problem+json)
    install_problems(app)   handlers for HTTP errors, validation errors and anything unforeseen
                            (500, nothing internal told), and the OpenAPI document rewritten so
                            every 4xx/5xx it declares is application/problem+json
    responses(400, 404, ...)   the ``responses=`` of a route or router

Nothing the client sent is echoed back in full: a field error carries where and why (loc
parts and messages bounded), never pydantic's ``input`` or ``ctx`` (a non-finite float or a
megabyte of text there once made the 422 itself fail). 429 and 503 carry Retry-After.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
MAX_DETAIL = 500  # characters of a detail or message
MAX_LOC = 64  # characters of one part of an error's location
MAX_ERRORS = 20
TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}  # RFC 9110's names
RETRY_AFTER = {429: "60", 503: "5"}  # when the raiser gave none


class Problem(BaseModel):
    """RFC 9457 problem details; extensions as extra members."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


# kept for the routes that name them: every error is a Problem now
Invalid = Conflict = Problem

WHY: dict[int, str] = {
    400: "the request could not be read (not UTF-8, a NUL byte, non-finite numbers, "
         "duplicate keys, nesting too deep)",
    401: "no bearer token, or an invalid or expired one",
    403: "the caller may not do this (or is not in the directory in force)",
    404: "no such case within the caller's scope",
    409: "not allowed in the case's current status, or the case moved on "
         "(extensions: action, case_status or stage, version / expected_version, "
         "actual_version)",
    413: "the request body is larger than the limit",
    415: "a multipart body (no route takes files): send a form or JSON",
    422: "bad input, or the command breaks a rule (detail and errors name the field)",
    429: "too many requests (Retry-After says when to try again)",
    503: "not ready: no directory loaded, or the database is unreachable (Retry-After)",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": WHY[code]} for code in codes}


def problem(code: int, detail: str, *, headers: Mapping[str, str] | None = None,
            type_: str = "about:blank", **extensions: Any) -> Response:
    body: dict[str, Any] = {**extensions, "type": type_, "title": _title(code),
                            "status": code, "detail": _bounded(detail)}
    hdrs = dict(headers or {})
    if code in RETRY_AFTER and not any(k.lower() == "retry-after" for k in hdrs):
        hdrs["Retry-After"] = RETRY_AFTER[code]
    return Response(_dumps(body), status_code=code, headers=hdrs, media_type=PROBLEM_JSON)


def wants_problem(request: Request) -> bool:
    """For the server-rendered pages (console, dashboard): a client that asks for JSON and
    not HTML gets its 4xx/5xx as a problem document; a browser gets the page."""
    accept = request.headers.get("accept", "").lower()
    return "json" in accept and "text/html" not in accept


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's errors without the input they were given: where, why, which kind."""
    out = []
    for e in list(errors)[:MAX_ERRORS]:
        loc = [p if isinstance(p, int) else _bounded(str(p), MAX_LOC) for p in e.get("loc", ())]
        field = ".".join(str(p) for p in loc if p not in ("body", "query", "path", "header",
                                                            "cookie"))
        out.append({"loc": loc, "field": field or "request",
                    "msg": _bounded(str(e.get("msg", "invalid"))), "type": str(e.get("type"))})
    return out


def summary(errors: list[dict[str, Any]]) -> str:
    return _bounded("; ".join(f"{e['field']}: {e['msg']}" for e in errors) or "invalid input")


def install_problems(app: FastAPI) -> None:
    """Problem documents for every error this app answers, and in its OpenAPI document."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = field_errors(exc.errors())
        return problem(422, summary(errors), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code < 400:  # a redirect raised as an exception (sign in first)
            return Response(status_code=exc.status_code, headers=exc.headers)
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail,
                                                                           default=str)
        return problem(exc.status_code, detail, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unforeseen(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path,
                  exc_info=(type(exc), exc, exc.__traceback__))
        return problem(500, "an unexpected error; it was logged")

    _document_problems(app)


def _document_problems(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                                 description=app.description, tags=app.openapi_tags,
                                 servers=app.servers)
            problem_ref = {"$ref": "#/components/schemas/Problem"}
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("Problem", Problem.model_json_schema())
            for path in schema.get("paths", {}).values():
                for op in path.values():
                    if not isinstance(op, dict) or "responses" not in op:
                        continue
                    _problem_responses(op, problem_ref)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _problem_responses(op: dict[str, Any], ref: dict[str, Any]) -> None:
    codes = {"400": WHY[400], "422": WHY[422]}
    if "requestBody" in op:
        codes["413"], codes["415"] = WHY[413], WHY[415]
    for code, why in codes.items():
        op["responses"].setdefault(code, {"description": why})
    for code, answer in op["responses"].items():
        if code[:1] not in ("4", "5"):
            continue
        content = answer.setdefault("content", {})
        content.pop("application/json", None)
        content[PROBLEM_JSON] = {"schema": ref}
        if code in ("429", "503"):
            answer.setdefault("headers", {})["Retry-After"] = {
                "description": "seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1}}


def _title(status: int) -> str:
    if status in TITLES:
        return TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _bounded(text: str, limit: int = MAX_DETAIL) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _dumps(body: dict[str, Any]) -> bytes:
    """JSON that cannot fail: lone surrogates escaped; a non-finite number leaves only the
    members every problem has."""
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, default=str).encode()
    except UnicodeEncodeError:
        return _dumps_ascii(body)
    except ValueError:
        return _dumps_ascii({k: body[k] for k in ("type", "title", "status", "detail")})


def _dumps_ascii(body: dict[str, Any]) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=True, allow_nan=False, default=str).encode()
    except ValueError:
        return json.dumps({k: body[k] for k in ("type", "title", "status", "detail")},
                          ensure_ascii=True, default=str).encode()
