"""Every metric is named the same in four places, both ways: what the code exports is what
deploy/METRICS.md lists (name, type, labels) and nothing else; every shouwen_* name the alert
rules, the Grafana dashboards and the docs use is exported. Known label sets start at 0."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry

from tests.unit.test_dashboard_deploy import METRIC, alert_exprs, base, queries

ROOT = Path(__file__).resolve().parents[2]
METRICS_MD = (ROOT / "deploy" / "METRICS.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `(shouwen_\w+)` \| (counter|gauge|histogram) \|([^|]*)\|", re.M)


def documented() -> dict[str, tuple[str, set[str]]]:
    """name -> (type, label names), from the tables of METRICS.md (label values, given in
    parentheses, aside)."""
    found = {}
    for name, kind, labels in ROW.findall(METRICS_MD):
        found[name] = (kind, set(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", labels))))
    return found


def exported() -> dict[str, tuple[str, set[str]]]:
    """Every family the code can export, with the label names of its samples."""
    from services.common.metrics import http_duration
    from services.dashboard.exporter import Exporter
    from services.dashboard.lag import LagRow
    from services.deadline_watch.metrics import deadline_metrics
    from services.intake.routes import public  # noqa: F401 - its counter, on REGISTRY
    from services.ledger import app  # noqa: F401 - its counter and histogram, on REGISTRY
    from services.ledger.metrics import ledger_metrics
    from services.notification.metrics import notify_metrics
    from services.proof.metrics import checkpoint_metrics
    from services.relay.metrics import relay_metrics
    from services.routing.metrics import routing_metrics

    registry = CollectorRegistry()
    from services.common.pii import register_pii_metrics
    from services.personal.retention import retention_metrics

    for build in (relay_metrics, routing_metrics, deadline_metrics, notify_metrics,
                  ledger_metrics, checkpoint_metrics, http_duration, register_pii_metrics,
                  retention_metrics):
        build(registry)
    http_duration(registry).labels("intake", "GET", "/v1/cases", "200").observe(0.1)
    from services.common.metrics import skip_counter

    skip_counter("routing", registry)("shouwen.case.notification_sent.v1")
    ledger_metrics(CollectorRegistry()).last_offset.labels(partition="0")  # labels: below
    exporter = Exporter("unused", None)
    exporter.years = {("CN", 2026): 1}
    exporter.pending = 3
    exporter.appended.update({"shouwen.case.received.v1": 1})
    exporter.cases = {"RSJ": (1, 0, 0)}
    exporter.ends = {("shouwen.case-events", 0): 5}
    exporter.lag = [LagRow("routing", "shouwen.case-events", 0, 2)]
    exporter.dead_letters.update({("routing", "undecodable"): 1})
    registry.register(exporter)  # type: ignore[arg-type]
    found: dict[str, tuple[str, set[str]]] = {}
    for source in (registry, REGISTRY):
        for family in source.collect():
            if not family.name.startswith("shouwen_"):
                continue
            name = family.name + ("_total" if family.type == "counter" else "")
            labels = {k for s in family.samples for k in s.labels if k != "le"}
            found[name] = (family.type, labels)
    return found


def test_the_code_exports_exactly_what_metrics_md_lists():
    docs, code = documented(), exported()
    assert set(code) - set(docs) == set(), "exported but not in METRICS.md"
    assert set(docs) - set(code) == set(), "in METRICS.md but never exported"
    for name, (kind, labels) in code.items():
        assert docs[name][0] == kind, name
        assert labels <= docs[name][1], (name, labels - docs[name][1])


def test_every_name_the_rules_dashboards_and_docs_use_is_exported():
    code = set(exported())
    prose = [(ROOT / "docs" / "ARCHITECTURE.md").read_text(), (ROOT / "README.md").read_text(),
             (ROOT / "k8s" / "README.md").read_text()]
    used = {base(m) for text in [*queries(), *alert_exprs(), *prose]
            for m in METRIC.findall(text)
            if not m.endswith("_")}  # shouwen_pii_retention_{erased,held}_total: a pattern
    used.discard("shouwen_service")  # a label, not a metric
    assert len(used) > 20
    assert used - code == set()


def test_the_metrics_service_label_is_not_the_operators():
    """prometheus-operator sets `service`; a metric's own would become exported_service."""
    for name, (_, labels) in exported().items():
        assert "service" not in labels, name
    for text in [*queries(), *alert_exprs()]:
        assert not re.search(r"[{,]\s*service\s*=", text), text


def test_known_label_sets_start_at_zero():
    from services.notification.metrics import notify_metrics
    from services.relay.metrics import relay_metrics

    registry = CollectorRegistry()
    relay_metrics(registry)
    notify_metrics(registry)
    for kind in ("db", "broker", "other"):
        assert registry.get_sample_value("shouwen_relay_errors_total", {"kind": kind}) == 0
    for channel in ("email", "sms", "webhook"):
        assert registry.get_sample_value("shouwen_notification_dead_letters_total",
                                         {"channel": channel}) == 0
        assert registry.get_sample_value("shouwen_notification_outcomes_total",
                                         {"channel": channel, "outcome": "failed"}) == 0
