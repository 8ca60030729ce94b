"""The routing and ledger workers' metrics: what a finished batch counts, and a bad port."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from services.common.consumer import Outcome
from services.common.deadletter import Delivery
from services.ledger.metrics import ledger_metrics
from services.routing.metrics import decision_kind, routing_metrics


def delivery(partition: int, offset: int) -> Delivery:
    return Delivery("shouwen.case-events", partition, offset, b"k", b"{}")


def test_a_decision_kind_is_the_event_type_without_namespace_or_version():
    assert [decision_kind(t) for t in ("shouwen.case.classified.v1", "shouwen.case.referred.v1",
                                       "shouwen.case.escalated.v1")] == [
        "classified", "referred", "escalated"]


def test_a_routing_batch_counts_itself_its_time_and_its_dead_letters():
    registry = CollectorRegistry()
    metrics = routing_metrics(registry)
    outcomes = [Outcome.handled, Outcome.dead_lettered, Outcome.duplicate]
    metrics.batch([delivery(0, i) for i in range(3)], outcomes, 0.2)
    assert [registry.get_sample_value(n) for n in (
        "shouwen_routing_batches_total", "shouwen_routing_batch_seconds_sum",
        "shouwen_routing_dead_letters_total")] == [1, 0.2, 1]
    assert registry.get_sample_value("shouwen_routing_decisions_total",
                                     {"kind": "escalated"}) == 0  # shown before the first


def test_a_ledger_batch_counts_what_it_projected_and_each_partitions_last_offset():
    registry = CollectorRegistry()
    metrics = ledger_metrics(registry)
    batch = [delivery(0, 7), delivery(1, 3), delivery(0, 8)]
    metrics.batch(batch, [Outcome.handled, Outcome.duplicate, Outcome.handled], 0.1)
    assert registry.get_sample_value("shouwen_ledger_events_projected_total") == 2
    assert [registry.get_sample_value("shouwen_ledger_last_offset", {"partition": p})
            for p in ("0", "1")] == [8, 3]
    assert registry.get_sample_value("shouwen_ledger_last_projected_timestamp_seconds") > 0


@pytest.mark.parametrize(("variable", "run"), [
    ("SHOUWEN_ROUTING_METRICS_PORT", "services.routing.worker"),
    ("SHOUWEN_LEDGER_METRICS_PORT", "services.ledger.worker"),
])
def test_a_port_out_of_range_exits_2_naming_the_setting(monkeypatch, capsys, variable, run):
    import importlib

    monkeypatch.setenv(variable, "70000")
    assert importlib.import_module(run).main([]) == 2
    assert "metrics_port" in capsys.readouterr().err
