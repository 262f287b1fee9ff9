"""Prometheus metrics (prometheus-client), served at `GET /metrics`. Counters are bumped
where things happen; the outbox depth is read from the database when scraped."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
UPDATES = Counter("lapor_updates_total", "Inbound updates handled by the engine", ["channel"], registry=REGISTRY)
STEP_SECONDS = Histogram("lapor_step_seconds", "Time from an update reaching the engine to its commit",
                         ["channel"], registry=REGISTRY,
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
OUTBOX_DEPTH = Gauge("lapor_outbox_pending", "Deliveries waiting in the outbox", registry=REGISTRY)
OUTBOX_OLDEST = Gauge("lapor_outbox_oldest_pending_seconds", "Age of the oldest waiting delivery", registry=REGISTRY)
DELIVERIES = Counter("lapor_deliveries_total", "Deliveries sent", ["channel"], registry=REGISTRY)
DELIVERY_FAILURES = Counter("lapor_delivery_failures_total", "Failed delivery attempts", ["channel", "reason"],
                            registry=REGISTRY)


class LastSuccess:
    """When a channel's API last answered a send successfully (for /healthz)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def mark(self, channel: str) -> None:
        self.at[channel] = time.time()


LAST_SUCCESS = LastSuccess()


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
