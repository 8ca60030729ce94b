"""The checkpointer's Prometheus metrics (port SHOUWEN_CHECKPOINT_METRICS_PORT, 9105), built
on a registry the caller gives (tests use fresh ones).

    shouwen_checkpoints_taken_total       checkpoints this process signed
    shouwen_checkpoint_tree_size          events covered by the newest checkpoint (anyone's)
    shouwen_checkpoint_age_seconds        seconds since the newest checkpoint was taken,
                                          computed at scrape time: it keeps growing when the
                                          checkpointer is stuck, which a last value would not

Nothing here names a case or a person: sizes, counts and times only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.proof.note import Checkpoint


@dataclass
class CheckpointMetrics:
    taken: Counter
    tree_size: Gauge
    age: Gauge
    _newest_at: float | None = field(default=None)

    def took(self) -> None:
        self.taken.inc()

    def newest(self, cp: Checkpoint) -> None:
        self.tree_size.set(cp.tree_size)
        self._newest_at = cp.time.timestamp()

    def age_seconds(self, now: float | None = None) -> float:
        """0 before any checkpoint exists (the tree size says 0 then)."""
        if self._newest_at is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - self._newest_at)


def checkpoint_metrics(registry: CollectorRegistry) -> CheckpointMetrics:
    metrics = CheckpointMetrics(
        taken=Counter("shouwen_checkpoints_taken", "Checkpoints signed by this process",
                      registry=registry),
        tree_size=Gauge("shouwen_checkpoint_tree_size",
                        "Events covered by the newest signed checkpoint", registry=registry),
        age=Gauge("shouwen_checkpoint_age_seconds",
                  "Seconds since the newest checkpoint was taken", registry=registry),
    )
    metrics.age.set_function(metrics.age_seconds)
    return metrics


def serve_metrics(port: int) -> CheckpointMetrics:
    """The loop's metrics, served on ``port`` (0: not served). A port already taken costs the
    metrics, not the checkpoints: said loudly, and the probes on that port tell Kubernetes."""
    from services.common.metrics import serve

    registry = CollectorRegistry()
    metrics = checkpoint_metrics(registry)
    try:
        serve(port, registry)
    except OSError as exc:
        logging.getLogger("shouwen.checkpoint").error(
            "SHOUWEN_CHECKPOINT_METRICS_PORT %d: %s; checkpointing without metrics", port,
            exc.strerror)
    return metrics
