"""The one retry schedule (services/common/backoff.py) every waiting loop uses."""

from __future__ import annotations

from services.common.backoff import Backoff, Failures


def test_a_loops_failures_grow_its_delay_up_to_the_cap_and_a_success_resets_it():
    failures = Failures(Backoff(first_delay=1.0, max_delay=4.0))
    assert [failures.next() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    failures.reset()
    assert failures.next() == 1.0


def test_jitter_spreads_a_delay_within_its_share():
    backoff = Backoff(first_delay=1.0, max_delay=10.0, jitter=0.2)
    delays = [backoff.delay(3) for _ in range(200)]
    assert all(3.2 <= d <= 4.8 for d in delays)
    assert len(set(delays)) > 1
