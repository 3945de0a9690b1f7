"""GET /status: what an operator needs at a glance. No secret is ever part of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from common.config import Settings
from common.queueing import QUEUES
from common.sinks import GraphSink
from common.state import last_full_sync
from worker.clock import next_runs
from worker.oncall import next_handoff

LAST_WEBHOOK = "pdgraph:webhooks:last"


def _when(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_scheduled_runs(connection: redis.Redis, settings: Settings) -> dict[str, str | None]:
    """When the clock queues its next runs, and the next on-call hand-off refresh."""
    runs: dict[str, str | None] = {
        what: at.strftime("%Y-%m-%dT%H:%M:%SZ") for what, at in next_runs(settings).items()
    }
    runs["on-call hand-off refresh"] = _when(next_handoff(connection))
    return runs


def collect_status(
    connection: redis.Redis, sink: GraphSink, settings: Settings | None = None
) -> dict[str, Any]:
    queues = {}
    for name in QUEUES:
        queue = Queue(name, connection=connection)
        queues[name] = {
            "queued": queue.count,
            "running": StartedJobRegistry(queue=queue).count,
            "scheduled": ScheduledJobRegistry(queue=queue).count,  # type: ignore[no-untyped-call]
            "failed": FailedJobRegistry(queue=queue).count,
        }
    raw = connection.get(LAST_WEBHOOK)
    webhook = json.loads(raw) if raw else None
    if webhook is not None:
        webhook["received_at"] = _when(webhook.get("received_at"))
    sync = last_full_sync(connection)
    if sync is not None:
        sync["started_at"] = _when(sync.get("started_at"))
    counts = sink.counts_by_type()
    return {
        "queues": queues,
        "failed_jobs": sum(q["failed"] for q in queues.values()),
        "last_webhook": webhook,
        "last_full_sync": sync,
        "next_runs": next_scheduled_runs(connection, settings) if settings else {},
        "graph": {
            "entities": {t: n for t, n in counts.items() if t in _ENTITY_TYPES},
            "relationships": {t: n for t, n in counts.items() if t not in _ENTITY_TYPES},
            "waiting_writes": sink.waiting_writes(),
        },
    }


_ENTITY_TYPES = {"pagerduty_user", "pagerduty_team", "pagerduty_service"}


def status_gauges(connection: redis.Redis, sink: GraphSink) -> Iterator[Metric]:
    """The gauges of /metrics: what /status shows, read at scrape time."""
    jobs = GaugeMetricFamily(
        "pdgraph_queue_jobs", "RQ jobs by queue and state", labels=("queue", "state")
    )
    for name in QUEUES:
        queue = Queue(name, connection=connection)
        jobs.add_metric([name, "queued"], queue.count)
        jobs.add_metric([name, "running"], StartedJobRegistry(queue=queue).count)
        jobs.add_metric([name, "scheduled"], ScheduledJobRegistry(queue=queue).count)  # type: ignore[no-untyped-call]
        jobs.add_metric([name, "failed"], FailedJobRegistry(queue=queue).count)
    yield jobs
    sync = last_full_sync(connection)
    if sync is not None:
        finished = (sync.get("started_at") or 0) + (sync.get("duration_s") or 0)
        yield GaugeMetricFamily(
            "pdgraph_full_sync_last_timestamp_seconds",
            "When the last full sync finished (Unix time)",
            value=finished,
        )
        yield GaugeMetricFamily(
            "pdgraph_full_sync_last_duration_seconds",
            "How long the last full sync took",
            value=sync.get("duration_s") or 0,
        )
        yield GaugeMetricFamily(
            "pdgraph_full_sync_last_success",
            "1 if the last full sync succeeded (ok), else 0",
            value=1 if sync.get("outcome") == "ok" else 0,
        )
        yield GaugeMetricFamily(
            "pdgraph_full_sync_drift",
            "Objects the webhook path had wrong, found by the last full sync",
            value=sync.get("drift") or 0,
        )
    objects = GaugeMetricFamily(
        "pdgraph_graph_objects",
        "Entities and relationships in the graph by _type",
        labels=("type",),
    )
    for type_, n in sink.counts_by_type().items():
        objects.add_metric([type_], n)
    yield objects
    yield GaugeMetricFamily(
        "pdgraph_graph_waiting_writes",
        "Entity changes buffered for the next JupiterOne PATCH job",
        value=sink.waiting_writes(),
    )
