"""The OpenAPI documents of intake and the ledger as client generators want them:
operationIds that name the operation, every operation tagged, component names without module
paths, and the export's real media types."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.common.openapi import short_name
from services.common.settings import Settings


def documents() -> dict[str, dict[str, Any]]:
    from services.apps import ledger
    from services.intake.app import create_app

    return {"intake": create_app(Settings()).openapi(), "ledger": ledger(Settings()).openapi()}


@pytest.fixture(scope="module")
def docs() -> dict[str, dict[str, Any]]:
    return documents()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, methods in doc["paths"].items()
            for method, op in methods.items()]


def test_operation_ids_name_the_operation_and_are_unique(docs):
    for name, doc in docs.items():
        ids = [op["operationId"] for _, _, op in operations(doc)]
        assert len(ids) == len(set(ids)), name
        for path, method, op in operations(doc):
            oid = op["operationId"]
            assert re.fullmatch(r"[a-z][a-z0-9_]*", oid), oid
            assert not oid.endswith(f"_{method}") and "_v1_" not in oid, (path, oid)
    intake = {op["operationId"] for _, _, op in operations(docs["intake"])}
    assert {"cases_register", "cases_close", "accountability_close"} <= intake


def test_every_operation_is_tagged(docs):
    for name, doc in docs.items():
        for path, method, op in operations(doc):
            assert op.get("tags"), (name, method, path)


def test_component_names_carry_no_module_path(docs):
    for doc in docs.values():
        names = list(doc["components"]["schemas"])
        assert not [n for n in names if "__" in n], names
        text = str(doc)
        assert "services__" not in text
    intake = docs["intake"]["components"]["schemas"]
    assert {"IntakeClose", "AccountabilityClose"} <= set(intake)
    assert short_name("services__intake__models__Close") == "IntakeClose"


def test_the_export_says_its_csv_and_xlsx_media_types(docs):
    content = docs["ledger"]["paths"]["/v1/ledger/export"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"text/csv",
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    history = docs["ledger"]["paths"]["/v1/cases/{case_id}/history"]["get"]["responses"]["200"]
    assert set(history["content"]) == {"application/json", "text/html"}


def test_the_documents_are_stable():
    assert documents() == documents()
