"""deploy/METRICS.md is the contract: every shouwen_* name the Grafana dashboards and the
alerts use is listed there, with the type the code really exports; the dashboards are valid,
linted Grafana JSON whose queries promtool accepts, with a panel for each figure of issue 5."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from services.dashboard.exporter import Exporter

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
# a metric name, not a label (shouwen_service="intake": the HTTP histogram's service label)
METRIC = re.compile(r"\b(shouwen_[a-z0-9_]+)\b(?!\s*(?:=|!=|=~|!~))")
SUFFIXES = ("_bucket", "_count", "_sum")


def documented() -> dict[str, str]:
    """name -> type, from the tables of METRICS.md."""
    text = (ROOT / "deploy" / "METRICS.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `(shouwen_\w+)` \| (counter|gauge|histogram) \|", text, re.M))


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries() -> list[str]:
    return [t["expr"] for path in GRAFANA for p in panels(json.loads(path.read_text()))
            for t in p.get("targets", [])]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_every_metric_the_dashboards_and_alerts_use_is_in_metrics_md():
    names = documented()
    used = {base(m) for expr in [*queries(), *alert_exprs()] for m in METRIC.findall(expr)}
    assert len(used) > 20
    assert used - set(names) == set()


def _exported(registry: CollectorRegistry) -> dict[str, str]:
    found = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        found[name] = family.type
    return found


def test_metrics_md_agrees_with_what_the_code_exports():
    from services.common.metrics import http_duration
    from services.deadline_watch.metrics import deadline_metrics
    from services.ledger.metrics import ledger_metrics
    from services.notification.metrics import notify_metrics
    from services.relay.metrics import relay_metrics
    from services.routing.metrics import routing_metrics

    registry = CollectorRegistry()
    for build in (relay_metrics, routing_metrics, deadline_metrics, notify_metrics,
                  ledger_metrics, http_duration):
        build(registry)
    exporter = Exporter("unused", None)
    exporter.years = {("CN", 2026): 1}
    registry.register(exporter)  # type: ignore[arg-type]
    names = documented()
    for name, kind in _exported(registry).items():
        assert names.get(name) == kind, f"{name} is a {kind}; METRICS.md says {names.get(name)}"


@pytest.mark.parametrize("path", GRAFANA, ids=lambda p: p.name)
def test_grafana_dashboards_are_linted(path: Path):
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert dashboard["uid"] == path.stem and dashboard["title"].startswith("Shouwen")
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels(dashboard):
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["w"] > 0 and box["x"] + box["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}" and target["expr"].strip()
            assert "$" not in target["expr"].replace("$__rate_interval", "").replace(
                "$unit", ""), f"{panel['title']}: an unknown variable"


def test_the_dashboards_chart_every_figure_the_issue_names():
    used = {base(m) for expr in queries() for m in METRIC.findall(expr)}
    issue = {"shouwen_http_request_duration_seconds",  # intake latency histograms
             "shouwen_events_appended_total", "shouwen_relay_lag_seconds",
             "shouwen_consumer_lag", "shouwen_cases_open", "shouwen_cases_overdue",
             "shouwen_deadline_warnings_total", "shouwen_deadline_breaches_total",
             "shouwen_notification_outcomes_total", "shouwen_dead_letters_total"}
    assert issue <= used, issue - used


def test_promtool_parses_every_dashboard_query(tmp_path: Path):
    if shutil.which("promtool") is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing under CI (scripts/system-deps.sh installs it)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    rules = [{"record": f"shouwen:dashboard_query_{i}",
              "expr": q.replace("$__rate_interval", "5m").replace("$unit", ".*")}
             for i, q in enumerate(queries())]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
