"""The OpenAPI documents as clients' generators want them.

    operation_id(route)   FastAPI(generate_unique_id_function=operation_id): ``<tag>_<name>``
                          (``cases_register``, ``accountability_close``; the name alone
                          when it holds the tag: ``export_ledger``), not FastAPI's
                          ``register_v1_cases_post``; unique per document (tests hold it)
    tidy(app)             component names without module paths: where two models share a
                          class name FastAPI writes ``services__intake__models__Close``; here
                          that is ``IntakeClose`` (its package, then its name), refs rewritten
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

_QUALIFIED = re.compile(r"^(?:[A-Za-z0-9_]+__)+[A-Za-z0-9_]+$")


def operation_id(route: APIRoute) -> str:
    tag = re.sub(r"[^A-Za-z0-9]+", "_", str(route.tags[0]) if route.tags else "").strip("_")
    if not tag or tag in route.name.split("_"):  # export_ledger, not ledger_export_ledger
        return route.name
    return f"{tag}_{route.name}"


def short_name(qualified: str) -> str:
    """``services__intake__models__Close`` -> ``IntakeClose``: the package that tells them
    apart (the first after ``services``/``events``), then the class."""
    parts = qualified.split("__")
    package = next((p for p in parts[:-1] if p not in ("services", "events", "models")),
                   parts[0])
    return "".join(w.capitalize() for w in package.split("_")) + parts[-1]


def tidy(app: FastAPI) -> FastAPI:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.get("components", {}).get("schemas", {})
        renames = {n: short_name(n) for n in schemas if "__" in n and _QUALIFIED.match(n)}
        if renames and len(set(renames.values()) | (set(schemas) - set(renames))) == len(schemas):
            text = json.dumps(document)
            for old, new in renames.items():
                text = text.replace(f'"#/components/schemas/{old}"',
                                    f'"#/components/schemas/{new}"')
            document = json.loads(text)
            found = document["components"]["schemas"]
            document["components"]["schemas"] = {renames.get(k, k): v for k, v in found.items()}
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    return app
