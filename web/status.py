"""GET /status: what an operator needs at a glance. No secret is ever part of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis
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
        },
    }


_ENTITY_TYPES = {"pagerduty_user", "pagerduty_team", "pagerduty_service"}
