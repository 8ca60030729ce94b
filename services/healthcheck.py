"""`python -m services.healthcheck`: the image's HEALTHCHECK. Exit 0 when one of the suite's
ports on this host answers: intake's or the ledger's /healthz, or a worker's /metrics.

Each container runs one service and that service serves one of these ports (as its settings
give it, so a port moved by SHOUWEN_*_PORT is the one asked); a one-shot command (migrate,
load) serves none and is never asked. No dependency beyond the settings classes.
"""

from __future__ import annotations

import sys
import urllib.request


def endpoints() -> list[str]:
    from services.common.ledger_settings import LedgerSettings
    from services.common.settings import Settings
    from services.dashboard.config import DashboardSettings
    from services.deadline_watch.service import DeadlineSettings
    from services.notification.settings import NotifySettings
    from services.proof.settings import ProofSettings

    s, ledger = Settings(), LedgerSettings()
    http = [f"{s.intake_port}/healthz", f"{ledger.port}/healthz"]
    metrics = [s.relay_metrics_port, s.routing_metrics_port, DeadlineSettings().metrics_port,
               NotifySettings().metrics_port, ProofSettings().checkpoint_metrics_port,
               DashboardSettings().exporter_port, ledger.metrics_port]
    return [f"http://127.0.0.1:{p}" for p in
            [*http, *(f"{port}/metrics" for port in metrics if port)]]


def main(timeout: float = 2.0) -> int:
    for url in endpoints():
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                if response.status == 200:
                    return 0
        except OSError:
            continue
    return 1


if __name__ == "__main__":
    sys.exit(main())
