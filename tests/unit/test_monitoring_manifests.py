"""k8s/monitoring/ ships the alerts as a PrometheusRule and the dashboards as ConfigMaps for
Grafana's sidecar, generated from deploy/ (scripts/monitoring_manifests.py): they are the
same rules and dashboards, and promtool accepts the rules as they are in the resource."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "k8s" / "monitoring"


def generator():
    spec = importlib.util.spec_from_file_location(
        "monitoring_manifests", ROOT / "scripts" / "monitoring_manifests.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_files_are_up_to_date():
    assert generator().stale() == [], "run scripts/monitoring_manifests.py"
    listed = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())["resources"]
    assert {"prometheusrule.yaml", "grafana-dashboards.yaml"} <= set(listed)


def test_a_changed_source_makes_them_stale(tmp_path, monkeypatch):
    module = generator()
    alerts = tmp_path / "alerts.yml"
    alerts.write_text(module.ALERTS.read_text().replace("for: 1m", "for: 2m", 1))
    monkeypatch.setattr(module, "ALERTS", alerts)
    assert MONITORING / "prometheusrule.yaml" in module.stale()


def test_the_prometheus_rule_is_alerts_yml():
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    source = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["kind"] == "PrometheusRule" and rule["spec"]["groups"] == source["groups"]


def test_the_dashboards_are_sidecar_configmaps_of_the_json():
    maps = list(yaml.safe_load_all((MONITORING / "grafana-dashboards.yaml").read_text()))
    files = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
    assert len(maps) == len(files)
    for config, path in zip(maps, files, strict=True):
        assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(config["data"][path.name]) == json.loads(path.read_text())


def test_promtool_accepts_the_rules_in_the_resource(tmp_path):
    if shutil.which("promtool") is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing under CI (scripts/system-deps.sh installs it)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    run = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
