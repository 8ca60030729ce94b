"""deploy/compose.yaml: a valid Compose file (the Compose Specification's JSON Schema,
vendored: tests/data/compose-spec.schema.json) that runs every service of k8s/ in its own
container with the same commands and settings, against Apache Kafka (KRaft) and PostgreSQL.
`docker compose config` is not available here; this is what it would check, and more."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from tests.unit.test_k8s import SETTINGS, configmap, env_names, of_kind

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.schema.json"
REQUIRED = {"SHOUWEN_PG_PASSWORD": "pw", "SHOUWEN_JWKS_URL": "https://sso.example/certs",
            "SHOUWEN_JWT_ISSUER": "https://sso.example", "SHOUWEN_CHECKPOINT_KEY_FILE": "./k.pem",
            "SHOUWEN_NOTIFY_SMS_GATEWAY_URL": "https://sms.example/send",
            "SHOUWEN_NOTIFY_SMS_API_KEY": "key", "SHOUWEN_PII_KEK_FILE": "./kek"}
# on purpose: one broker on a private network, plaintext; the database is compose's own
DIFFERENT = {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "SHOUWEN_TOPIC_REPLICATION_FACTOR",
             "SHOUWEN_KAFKA_SECURITY_PROTOCOL", "SHOUWEN_KAFKA_SASL_MECHANISM",
             "SHOUWEN_KAFKA_SASL_USERNAME", "SHOUWEN_KAFKA_SASL_PASSWORD",
             "SHOUWEN_TRUSTED_PROXIES"}  # the proxy in front differs: ingress vs none

_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ${X}, ${X:-default}, ${X-default}, ${X:?error}, ${X?error}."""
    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if value or (op == "-" and value is not None) else arg
        if op in (":?", "?") and not value:
            raise KeyError(f"{name}: {arg}")
        return value or ""
    return _VAR.sub(one, text.replace("$$", "\0")).replace("\0", "$")


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    return yaml.safe_load(interpolate(COMPOSE.read_text(), REQUIRED if env is None else env))


def errors(doc: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]


def test_the_compose_file_is_valid_to_the_compose_specification():
    assert errors(compose()) == []


@pytest.mark.parametrize("breakage", ["unknown key", "bad depends_on", "bad port"])
def test_the_schema_check_refuses_what_compose_would(breakage: str):
    doc = copy.deepcopy(compose())
    if breakage == "unknown key":
        doc["services"]["relay"]["commands"] = ["relay"]
    elif breakage == "bad depends_on":
        doc["services"]["relay"]["depends_on"]["migrate"]["condition"] = "service_done"
    else:
        doc["services"]["intake"]["ports"] = "8000:8000"  # a list, not a string
    assert errors(doc)


def test_the_secrets_it_needs_are_asked_for_not_defaulted():
    for name in REQUIRED:
        with pytest.raises(KeyError, match=name):
            compose({k: v for k, v in REQUIRED.items() if k != name})


def k8s_containers() -> dict[str, tuple[list[str], dict[str, str | None]]]:
    """k8s container -> (args, env: literal value, or None for a secret reference)."""
    found = {}
    for d in [*of_kind("Deployment"), *of_kind("Job")]:
        for c in d["spec"]["template"]["spec"].get("initContainers", []) + \
                d["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            found[f"{d['metadata']['name']}/{c['name']}"] = (c["args"], env)
    return found


def test_every_k8s_service_is_its_own_container_with_the_same_command_and_settings():
    services = compose()["services"]
    shared = configmap()
    for d in of_kind("Deployment"):
        c = d["spec"]["template"]["spec"]["containers"][0]
        mine = services[c["name"]]
        assert mine["command"] == c["args"], c["name"]
        assert mine["image"] == c["image"]
        want = {**shared, **{e["name"]: e.get("value") for e in c.get("env", [])}}
        have = mine["environment"]
        for name, value in want.items():
            if name in DIFFERENT:
                continue
            assert name in have, (c["name"], name)
            if value is not None:  # a literal in k8s: the same here; a secret: asked for
                assert str(have[name]) == value, (c["name"], name, have[name], value)
        assert set(have) - set(want) <= DIFFERENT, (c["name"], set(have) - set(want))
        assert mine["user"] == "10001:10001" and mine["read_only"] is True
        assert mine["cap_drop"] == ["ALL"]


def test_the_one_shot_steps_are_the_k8s_jobs():
    services = compose()["services"]
    once = {tuple(s["command"]) for s in services.values() if s.get("restart") == "no"}
    jobs = {tuple(args) for args, _ in [k8s_containers()[k] for k in k8s_containers()
                                         if k.startswith(("shouwen-migrate/",
                                                          "shouwen-load-city/"))]}
    assert jobs <= once | {("migrate",)}
    assert ("topics",) in once
    for name, s in services.items():
        if s.get("image") != "shouwen:0.1.0" or s.get("restart") == "no":
            continue
        needs = s["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", name


def test_every_variable_is_a_setting_and_the_values_validate(monkeypatch):
    known = set().union(*(env_names(s) for s in SETTINGS)) | {"FORWARDED_ALLOW_IPS"}
    for name, s in compose()["services"].items():
        if s.get("image") != "shouwen:0.1.0":
            continue
        env = {k: str(v) for k, v in s["environment"].items()}
        assert set(env) <= known, (name, set(env) - known)
        with monkeypatch.context() as m:
            for var in [n for cls in SETTINGS for n in env_names(cls)]:
                m.delenv(var, raising=False)
            for var, value in env.items():
                m.setenv(var, value)
            for cls in SETTINGS:
                cls(_env_file=None)  # type: ignore[call-arg]


def test_real_kafka_in_kraft_and_postgresql():
    services = compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "ZOOKEEPER" not in json.dumps(kafka).upper()
    host = services["relay"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{host}"
    assert services["postgres"]["image"].startswith("postgres:")
    url = services["relay"]["environment"]["DATABASE_URL"]
    assert url == f"postgresql://shouwen:pw@postgres:5432/{services['postgres']['environment']['POSTGRES_DB']}"
    checkpointer = services["checkpointer"]
    assert checkpointer["secrets"][0]["target"] == \
        checkpointer["environment"]["SHOUWEN_CHECKPOINT_KEY_PATH"]
