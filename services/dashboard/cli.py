"""``shouwen dashboard ...``: the metrics exporter and the leaders' dashboard on its own.

    shouwen dashboard exporter   serve store, bus and case figures on SHOUWEN_EXPORTER_PORT
    shouwen dashboard serve      serve /dashboard alone (services/apps.py mounts it in the
                                 ledger app too)
"""

from __future__ import annotations

import signal
import threading

import typer
from pydantic import ValidationError

from services.common.settings import get_settings
from services.dashboard.config import DashboardSettings

dashboard_app = typer.Typer(help="Metrics exporter and the leaders' dashboard.",
                            no_args_is_help=True)


def _config() -> DashboardSettings:
    try:
        return DashboardSettings()
    except ValidationError as exc:
        typer.echo(f"error: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from None


def _required(value: str | None, name: str) -> str:
    if not value:
        typer.echo(f"error: {name} is not set (shouwen up sets it for its services)", err=True)
        raise typer.Exit(2)
    return value


@dashboard_app.command()
def exporter() -> None:
    """Serve shouwen_consumer_lag, dead letters, events appended and open/overdue cases per
    unit for Prometheus (deploy/METRICS.md)."""
    from prometheus_client import CollectorRegistry

    from services.common.logs import setup_logging as _setup_logging
    from services.common.metrics import serve as serve_metrics
    from services.dashboard.exporter import Exporter, run
    from services.dashboard.sources import BrokerReader

    s, config = get_settings(), _config()
    url = _required(s.database_url, "DATABASE_URL")
    bootstrap = _required(s.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS")
    _setup_logging()
    broker = BrokerReader(bootstrap, [s.case_events_topic, s.dead_letter_topic],
                          s.dead_letter_topic)
    figures = Exporter(url, broker)
    registry = CollectorRegistry()
    registry.register(figures)
    try:
        server = serve_metrics(config.exporter_port, registry)
    except OSError as exc:
        broker.close()
        typer.echo(f"error: SHOUWEN_EXPORTER_PORT {config.exporter_port}: {exc.strerror}",
                   err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run(figures, config.exporter_interval_seconds, stop)
    finally:
        broker.close()
        if server is not None:
            server.shutdown()


@dashboard_app.command()
def serve() -> None:
    """Serve the leaders' dashboard (/dashboard) on SHOUWEN_DASHBOARD_PORT."""
    import uvicorn

    from services.common.auth import exit_unless_auth_configured
    from services.dashboard.app import create_app

    s, config = get_settings(), _config()
    exit_unless_auth_configured(s)
    _required(s.database_url, "DATABASE_URL")
    from services.common.logs import dict_config

    uvicorn.run(create_app(s), host=config.dashboard_host, port=config.dashboard_port,
                log_level=s.log_level.lower(), log_config=dict_config(s))
