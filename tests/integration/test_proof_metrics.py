"""The checkpointer's metrics: what `checkpoint --every` serves on its port (9105) after
real checkpoints over a real store."""

from __future__ import annotations

import socket
import time
import urllib.request

from prometheus_client import CollectorRegistry

from services.proof import checkpointer
from services.proof.metrics import checkpoint_metrics, serve_metrics
from tests.integration.test_proof_checkpoints import KEY, ORIGIN, append


def sample(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name)


def test_metrics_follow_the_checkpoints_taken(database_url, tmp_path):
    registry = CollectorRegistry()
    metrics = checkpoint_metrics(registry)
    assert sample(registry, "shouwen_checkpoint_tree_size") == 0
    assert sample(registry, "shouwen_checkpoint_age_seconds") == 0
    append(database_url, 12)
    assert checkpointer.run(database_url, KEY, ORIGIN, tmp_path, None, metrics=metrics) == 1
    assert sample(registry, "shouwen_checkpoints_taken_total") == 1
    assert sample(registry, "shouwen_checkpoint_tree_size") == 12
    first_age = sample(registry, "shouwen_checkpoint_age_seconds")
    assert first_age is not None and 0 <= first_age < 30
    time.sleep(0.3)  # the age is computed at scrape time: it grows while nothing is taken
    later = sample(registry, "shouwen_checkpoint_age_seconds")
    assert later is not None and later >= first_age + 0.25
    assert checkpointer.run(database_url, KEY, ORIGIN, tmp_path, None, metrics=metrics) == 0
    assert sample(registry, "shouwen_checkpoints_taken_total") == 1  # nothing new: none taken
    append(database_url, 5)
    checkpointer.run(database_url, KEY, ORIGIN, tmp_path, None, metrics=metrics)
    assert sample(registry, "shouwen_checkpoints_taken_total") == 2
    assert sample(registry, "shouwen_checkpoint_tree_size") == 17
    age = sample(registry, "shouwen_checkpoint_age_seconds")
    assert age is not None and age < later


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_metrics_are_served_over_http_and_a_taken_port_costs_only_the_metrics(caplog):
    port = free_port()
    metrics = serve_metrics(port)
    metrics.tree_size.set(7)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "shouwen_checkpoint_tree_size 7.0" in text
    assert "shouwen_checkpoints_taken_total 0.0" in text
    assert "shouwen_checkpoint_age_seconds" in text
    again = serve_metrics(port)  # taken by the first: logged, and the loop still gets metrics
    assert again is not None and again is not metrics
    assert f"SHOUWEN_CHECKPOINT_METRICS_PORT {port}" in caplog.text


def test_a_bad_metrics_port_is_refused_with_exit_2(database_url, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from services.cli import app
    from services.common.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SHOUWEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOUWEN_CHECKPOINT_METRICS_PORT", "70000")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["checkpoint", "--every", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert "SHOUWEN_CHECKPOINT_METRICS_PORT" in result.output
    assert not (tmp_path / "proof").exists()  # nothing written: no key made, no checkpoint
