"""The HTTP apps as they are served: each service's app with what it hosts.

    ledger(settings=None)   the ledger's app (history replay, 台账 export) with the leaders'
                            dashboard mounted at /dashboard, on the ledger's pool;
                            ``shouwen ledger`` serves it (``uvicorn --factory
                            services.apps:ledger``)

Composition is a deployment decision, so it lives here, above the services (beside
services/cli.py and services/stack.py): the ledger and the dashboard never import each
other (docs/ARCHITECTURE.md, "Layers").
"""

from __future__ import annotations

from fastapi import FastAPI

from services.common.settings import Settings, get_settings
from services.common.tracing import setup as setup_tracing
from services.dashboard.wiring import mount as mount_dashboard
from services.ledger.app import create_app as create_ledger_app


def ledger(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_tracing("ledger", settings.otlp_endpoint)  # off unless SHOUWEN_OTLP_ENDPOINT
    app = create_ledger_app(settings)
    mount_dashboard(app, settings)  # /dashboard: the leaders' dashboard
    return app
