"""Kafka client security from the settings: plaintext by default (the development broker),
SASL SCRAM from SHOUWEN_KAFKA_* (k8s: each service's KafkaUser), the same for kafka-python's
clients and for faust's (aiokafka)."""

from __future__ import annotations

from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from services.common.bus import kafka_security
from services.common.faust_base import broker_credentials, make_app
from services.common.settings import Settings

SCRAM = {"SHOUWEN_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
         "SHOUWEN_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
         "SHOUWEN_KAFKA_SASL_USERNAME": "shouwen-routing",
         "SHOUWEN_KAFKA_SASL_PASSWORD": "s3cret"}


@pytest.fixture
def scram(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SCRAM.items():
        monkeypatch.setenv(name, value)


def test_plaintext_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SCRAM:
        monkeypatch.delenv(name, raising=False)
    assert kafka_security() == {}
    assert broker_credentials(Settings(_env_file=None)) is None  # type: ignore[call-arg]


def test_scram_for_every_kafka_python_client(scram: None) -> None:
    config = kafka_security()
    assert config == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                      "sasl_plain_username": "shouwen-routing", "sasl_plain_password": "s3cret"}
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert set(config) <= set(client.DEFAULT_CONFIG), client.__name__
    assert "s3cret" not in repr(Settings())  # a SecretStr: not in logs or tracebacks


def test_scram_for_faust(scram: None, tmp_path: Path) -> None:
    app = make_app(Settings(KAFKA_BOOTSTRAP_SERVERS="kafka:9092", data_dir=tmp_path), "routing")
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert auth["security_protocol"] == "SASL_PLAINTEXT"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("shouwen-routing",
                                                                           "s3cret")


def test_sasl_ssl_uses_the_cluster_ca(scram: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import certifi

    monkeypatch.setenv("SHOUWEN_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SHOUWEN_KAFKA_SSL_CAFILE", certifi.where())
    assert kafka_security()["ssl_cafile"] == certifi.where()
    auth = credentials_to_aiokafka_auth(broker_credentials(Settings()))
    assert auth["security_protocol"] == "SASL_SSL" and auth["ssl_context"] is not None


def test_a_mechanism_without_its_password_is_refused(scram: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOUWEN_KAFKA_SASL_PASSWORD")
    with pytest.raises(ValueError, match="SHOUWEN_KAFKA_SASL_PASSWORD"):
        kafka_security()
