"""The error answers of the staff and citizen APIs, declared in the OpenAPI document.

    Problem    {"detail": "why"}                       400 401 403 404 429 503
    Invalid    {"detail": "why" | [pydantic errors]}   422 (a broken rule, or bad input)
    Conflict   {"detail", action/status/version       409 (not allowed in this status,
                | expected_version/actual_version}         or the case moved on meanwhile)

Declared so a client (and the schemathesis run in tests/e2e) knows every status it can get:
``responses(400, 404, ...)`` gives the ``responses=`` of a route or router.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    detail: str


class Invalid(BaseModel):
    detail: str | list[dict[str, Any]]


class Conflict(BaseModel):
    detail: str
    action: str | None = None
    status: str | None = None
    version: int | None = None
    expected_version: int | None = None
    actual_version: int | None = None


WHY: dict[int, tuple[type[BaseModel], str]] = {
    400: (Problem, "the body could not be parsed (not UTF-8 JSON)"),
    401: (Problem, "no bearer token, or an invalid or expired one"),
    403: (Problem, "the caller may not do this (or is not in the directory in force)"),
    404: (Problem, "no such case within the caller's scope"),
    409: (Conflict, "not allowed in the case's current status, or the case moved on"),
    422: (Invalid, "bad input, or the command breaks a rule (the detail says which)"),
    503: (Problem, "no directory is loaded yet"),
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": WHY[code][0], "description": WHY[code][1]} for code in codes}
