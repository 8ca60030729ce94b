"""The operator files (deploy/, k8s/) parse, agree with the code, and pass promtool.

promtool checks run when it is on PATH (Debian: `apt-get install prometheus`); they are
skipped otherwise. Debian's promtool is built without Kubernetes service discovery, so it
cannot check prometheus-kubernetes.yml; that file is parsed as YAML only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from prometheus_client import CollectorRegistry

from services.cli import app
from services.common.settings import Settings
from services.relay.metrics import relay_metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
YAML_FILES = sorted(
    p for d in ("deploy", "k8s") for p in (ROOT / d).rglob("*") if p.suffix in (".yaml", ".yml")
)


def documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def manifests() -> list[dict[str, Any]]:
    docs = [d for p in sorted((ROOT / "k8s").rglob("*.yaml")) if "city" not in p.parts
            for d in documents(p)]  # k8s/city/: the data a ConfigMap is generated from
    return [d for d in docs if d.get("kind") != "Kustomization"]


def containers(kind: str) -> list[dict[str, Any]]:
    return [c for m in manifests() if m["kind"] == kind
            for c in m["spec"]["template"]["spec"]["containers"]]


def test_there_are_operator_files_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in YAML_FILES}
    assert {"deploy/prometheus/prometheus.yml", "deploy/prometheus/alerts.yml",
            "k8s/relay.yaml", "k8s/migrate-job.yaml", "k8s/configmap.yaml"} <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_yaml_file_parses(path: Path):
    assert documents(path), f"{path} holds no YAML document"


def test_every_manifest_names_its_api_kind_and_name():
    for doc in manifests():
        assert doc.get("apiVersion") and doc.get("kind"), doc
        assert doc.get("metadata", {}).get("name"), doc


def test_kustomization_lists_files_that_exist():
    kustomization = documents(ROOT / "k8s" / "kustomization.yaml")[0]
    for resource in kustomization["resources"]:
        assert (ROOT / "k8s" / resource).is_file(), resource


def test_containers_run_commands_the_cli_has():
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    used = {c["args"][0] for kind in ("Deployment", "Job") for c in containers(kind)}
    assert {"relay", "migrate", "intake", "routing"} <= used  # every one: tests/unit/test_k8s.py
    assert used <= commands


def test_configmap_sets_only_real_settings():
    config = next(m for m in manifests() if m["kind"] == "ConfigMap")
    fields = {f"SHOUWEN_{name.upper()}" for name in Settings.model_fields}
    known = fields | {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}
    assert set(config["data"]) <= known, set(config["data"]) - known


def test_relay_metrics_port_agrees_everywhere():
    port = Settings.model_fields["relay_metrics_port"].default
    relay = next(c for c in containers("Deployment") if c["name"] == "relay")
    assert [p["containerPort"] for p in relay["ports"]] == [port]
    assert scrape_targets()["shouwen-relay"] == [f"127.0.0.1:{port}"]


def scrape_targets() -> dict[str, list[str]]:
    config = documents(PROMETHEUS / "prometheus.yml")[0]
    return {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
            for job in config["scrape_configs"]}


def test_every_service_port_is_scraped_by_its_own_job():
    from services.common.ledger_settings import LedgerSettings
    from services.dashboard.config import DashboardSettings
    from services.deadline_watch.service import DeadlineSettings
    from services.notification.settings import NotifySettings
    from services.proof.settings import ProofSettings

    ports = {"intake": Settings.model_fields["intake_port"].default,
             "ledger": LedgerSettings.model_fields["port"].default,
             "relay": Settings.model_fields["relay_metrics_port"].default,
             "routing": Settings.model_fields["routing_metrics_port"].default,
             "deadline-watch": DeadlineSettings.model_fields["metrics_port"].default,
             "notification": NotifySettings.model_fields["metrics_port"].default,
             "checkpointer": ProofSettings.model_fields["checkpoint_metrics_port"].default,
             "exporter": DashboardSettings.model_fields["exporter_port"].default,
             "ledger-worker": LedgerSettings.model_fields["metrics_port"].default}
    assert scrape_targets() == {f"shouwen-{name}": [f"127.0.0.1:{port}"]
                                for name, port in ports.items()}


def test_alerts_use_metrics_the_relay_exports():
    registry = CollectorRegistry()
    relay_metrics(registry)
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    exported = {family.name + suffix for family in registry.collect()
                for suffix in suffixes.get(family.type, [""])}
    rules = [r for g in documents(PROMETHEUS / "alerts.yml")[0]["groups"] for r in g["rules"]]
    used = {m for r in rules for m in re.findall(r"shouwen_relay_\w+", r["expr"])}
    assert used and used <= exported, used - exported


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing under CI (scripts/system-deps.sh installs it)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return subprocess.run(["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("args", [
    ("check", "config", "prometheus.yml"),
    ("check", "rules", "alerts.yml"),
    ("test", "rules", "alerts.test.yml"),
    ("test", "rules", "calendar.test.yml"),
], ids=" ".join)
def test_promtool_accepts_the_prometheus_files(args: tuple[str, ...]):
    result = promtool(*args)
    assert result.returncode == 0, result.stdout + result.stderr
