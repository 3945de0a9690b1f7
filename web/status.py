"""GET /status and GET /metrics: what an operator needs at a glance. No secret is ever
part of either."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, render_template, request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily, Metric
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from common import metrics
from common.config import Settings
from common.objects import ENTITY_TYPES
from common.queueing import QUEUES
from common.schedule import next_handoff, next_runs
from common.sinks import GraphSink
from common.sinks.jupiterone.layout import Layout, describe
from common.state.dependencies import dependency_status
from common.state.freshness import MODES, freshness_status
from common.state.full_sync import (
    ABANDONED,
    finished_at,
    last_full_sync,
    last_successful_full_sync,
    last_webhook,
)
from web.readers import ReadersBusy
from web.replies import busy, reply
from web.state import web_state

status = Blueprint("status", __name__)

# What the last full-sync attempt can say (common.state.full_sync: abandoned = killed, lock lapsed).
FULL_SYNC_OUTCOMES = ("running", "ok", "failed", "aborted", ABANDONED)


@status.get("/status")
def status_page() -> Any:
    state = web_state()
    try:
        report = state.readers.run(
            lambda read: collect_status(read.connection, read.sink, read.settings)
        )
    except redis.RedisError:
        return reply(503, "Redis does not answer")
    except ReadersBusy:
        return busy()
    wanted = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if wanted == "application/json":
        return jsonify(report)
    return render_template("status.html", status=report)


@status.get("/metrics")
def prometheus_metrics() -> Any:
    try:
        body = web_state().readers.run(
            lambda read: metrics.render(
                read.connection, lambda: status_gauges(read.connection, read.sink)
            )
        )
    except redis.RedisError:
        return reply(503, "Redis does not answer")
    except ReadersBusy:
        return busy()
    return Response(body, 200, content_type=CONTENT_TYPE_LATEST)


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


def queue_jobs(connection: redis.Redis) -> dict[str, dict[str, int]]:
    """Per queue, its jobs queued, running, scheduled and failed."""
    jobs = {}
    for name in QUEUES:
        queue = Queue(name, connection=connection)
        jobs[name] = {
            "queued": queue.count,
            "running": StartedJobRegistry(queue=queue).count,
            "scheduled": ScheduledJobRegistry(queue=queue).count,  # type: ignore[no-untyped-call]
            "failed": FailedJobRegistry(queue=queue).count,
        }
    return jobs


def jupiterone_layout(connection: redis.Redis, settings: Settings | None) -> dict[str, Any] | None:
    """Where relationships are written in JupiterOne (one scope or edge partitions), the
    layout the next full sync moves to, and the probe's verdict (None: local sink)."""
    layout = Layout.configured(connection, settings) if settings else None
    if layout is None:
        return None
    status = layout.status()
    return {**status, "says": describe(status)}


def collect_status(
    connection: redis.Redis, sink: GraphSink, settings: Settings | None = None
) -> dict[str, Any]:
    queues = queue_jobs(connection)
    webhook = last_webhook(connection)
    if webhook is not None:
        webhook["received_at"] = _when(webhook.get("received_at"))
    sync, ok = last_full_sync(connection), last_successful_full_sync(connection)
    for run in (sync, ok):
        if run is not None:
            run["finished_at"] = _when(finished_at(run))
            run["started_at"] = _when(run.get("started_at"))
    counts = sink.counts_by_type()
    return {
        "queues": queues,
        "failed_jobs": sum(q["failed"] for q in queues.values()),
        "last_webhook": webhook,
        "last_full_sync": sync,  # the last attempt: running, ok, failed, aborted, abandoned
        "last_successful_full_sync": ok,
        "next_runs": next_scheduled_runs(connection, settings) if settings else {},
        "people": freshness_status(connection),
        "dependencies": dependency_status(connection),
        "jupiterone": jupiterone_layout(connection, settings),
        "graph": {
            "entities": {t: n for t, n in counts.items() if t in ENTITY_TYPES},
            "relationships": {t: n for t, n in counts.items() if t not in ENTITY_TYPES},
            "waiting_writes": sink.waiting_writes(),
        },
    }


def status_gauges(connection: redis.Redis, sink: GraphSink) -> Iterator[Metric]:
    """The gauges of /metrics: what /status shows, read at scrape time."""
    jobs = GaugeMetricFamily(
        "pdgraph_queue_jobs", "RQ jobs by queue and state", labels=("queue", "state")
    )
    for name, by_state in queue_jobs(connection).items():
        for state, n in by_state.items():
            jobs.add_metric([name, state], n)
    yield jobs
    sync = last_full_sync(connection)
    if sync is not None:
        yield from _full_sync_gauges(sync, last_successful_full_sync(connection))
    yield from _freshness_gauges(freshness_status(connection))
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


def _one_hot(
    name: str, help_text: str, label: str, values: Iterable[str], current: object
) -> Metric:
    """A gauge with one series per value of `label`: 1 for `current`, 0 for the others."""
    gauge = GaugeMetricFamily(name, help_text, labels=(label,))
    for value in values:
        gauge.add_metric([value], 1 if current == value else 0)
    return gauge


def _full_sync_gauges(sync: dict[str, Any], ok: dict[str, Any] | None) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "pdgraph_full_sync_last_timestamp_seconds",
        "When the last full sync attempt finished (Unix time; its start while it runs, or "
        "when it was abandoned)",
        value=finished_at(sync) or sync.get("started_at") or 0,
    )
    yield _one_hot(
        "pdgraph_full_sync_last_outcome",
        "1 for the outcome of the last full sync attempt",
        "outcome",
        FULL_SYNC_OUTCOMES,
        sync.get("outcome"),
    )
    yield GaugeMetricFamily(
        "pdgraph_full_sync_last_ok_timestamp_seconds",
        "When the last full sync that ended ok finished (Unix time; 0: none yet)",
        value=(finished_at(ok) or 0) if ok is not None else 0,
    )
    yield GaugeMetricFamily(
        "pdgraph_full_sync_last_duration_seconds",
        "How long the last full sync took",
        value=sync.get("duration_s") or 0,
    )
    yield GaugeMetricFamily(
        "pdgraph_full_sync_last_success",
        "1 if the last full sync attempt succeeded (ok), else 0 (running, failed, aborted, "
        "abandoned)",
        value=1 if sync.get("outcome") == "ok" else 0,
    )
    yield GaugeMetricFamily(
        "pdgraph_full_sync_drift",
        "Objects the webhook path had wrong, found by the last full sync",
        value=sync.get("drift") or 0,
    )


def _freshness_gauges(people: dict[str, Any]) -> Iterator[Metric]:
    """How users and teams are kept fresh: the mode, the last run of each, the lag."""
    yield _one_hot(
        "pdgraph_people_mode",
        "1 for the way users and teams are kept fresh: audit (the feed) or refresh",
        "mode",
        MODES,
        people.get("mode"),
    )
    last = GaugeMetricFamily(
        "pdgraph_people_last_run_timestamp_seconds",
        "When the last audit-feed poll (audit) or light refresh (refresh) finished",
        labels=("mode",),
    )
    for name, run in (("audit", people.get("last_poll")), ("refresh", people.get("last_refresh"))):
        if run is not None:
            last.add_metric([name], float(run.get("finished_at") or 0))
    yield last
    if people.get("lag_s") is not None:
        yield GaugeMetricFamily(
            "pdgraph_people_lag_seconds",
            "Feed: from the newest change written to its write; refresh: the last one's age",
            value=float(people["lag_s"]),
        )
