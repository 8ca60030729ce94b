"""instrument_http: request latency by route template and status, on a fresh registry."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.common.metrics import instrument_http

NAME = "shouwen_http_request_duration_seconds"


def count(registry: CollectorRegistry, **labels: str) -> float | None:
    return registry.get_sample_value(f"{NAME}_count", {"shouwen_service": "svc", **labels})


def test_requests_are_timed_by_route_template_method_and_status():
    registry, app = CollectorRegistry(), FastAPI()

    @app.get("/v1/cases/{case_id}")
    def case(case_id: str) -> dict[str, str]:
        if case_id == "missing":
            raise HTTPException(404, "no such case")
        return {"id": case_id}

    instrument_http(app, "svc", registry)
    with TestClient(app) as client:
        for case_id in ("C-1", "C-2", "missing"):
            client.get(f"/v1/cases/{case_id}")
        client.get("/nowhere/at/all")
        client.post("/v1/cases/C-1")
    route = "/v1/cases/{case_id}"
    assert count(registry, method="GET", route=route, status="200") == 2
    assert count(registry, method="GET", route=route, status="404") == 1
    assert count(registry, method="POST", route=route, status="405") == 1
    assert count(registry, method="GET", route="<unmatched>", status="404") == 1
    assert count(registry, method="GET", route="/v1/cases/C-1", status="200") is None


def test_a_handler_that_raises_is_timed_as_500():
    registry, app = CollectorRegistry(), FastAPI()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    instrument_http(app, "svc", registry)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
    assert count(registry, method="GET", route="/boom", status="500") == 1


def test_routes_of_included_routers_are_named_by_their_full_template():
    registry, app, router = CollectorRegistry(), FastAPI(), APIRouter(prefix="/v1")

    @router.get("/cases/{case_id}/history")
    def history(case_id: str) -> dict[str, str]:
        return {"id": case_id}

    app.include_router(router)
    instrument_http(app, "svc", registry)
    with TestClient(app) as client:
        client.get("/v1/cases/C-9/history")
    assert count(registry, method="GET", route="/v1/cases/{case_id}/history",
                 status="200") == 1
