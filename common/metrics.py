"""Metrics: counted by every pdgraph process, kept in Redis, rendered by `GET /metrics`.

web, worker and clock run as separate processes and, on Heroku, on separate dynos, while a
scrape reaches one web process. prometheus-client's multiprocess mode shares a directory,
so it only sums the processes of one host; pdgraph keeps its counters in Redis instead
(`pdgraph:metrics:*`), which every process already shares, and renders them at scrape
time through a custom collector (any web process answers the same, whatever gunicorn's
worker count). Each process buffers its increments and writes them at most once a second
(and at the end of every job), so counting costs a request no Redis round trip; a timer
thread writes what is left a second after the last count, so a process that goes idle
after a burst is not under-counted until its next request, and exit writes the rest.

Gauges (queue depth, last full sync, graph size) are read at scrape time.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from common.state.keys import metric as metric_key
from common.state.keys import text_map

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 1.0
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

# name → (help, label names); every counter and histogram pdgraph records.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pdgraph_webhooks_total": (
        "Webhook deliveries by outcome (queued, duplicate, bad_signature, ...)",
        ("outcome",),
    ),
    "pdgraph_pagerduty_requests_total": (
        "PagerDuty REST API requests by HTTP status (0: no answer)",
        ("status",),
    ),
    "pdgraph_pagerduty_rate_limited_total": ("PagerDuty answers 429", ()),
    "pdgraph_jupiterone_requests_total": (
        "JupiterOne requests by API (persister, graphql) and HTTP status (0: no answer)",
        ("api", "status"),
    ),
    "pdgraph_jupiterone_rate_limited_total": ("JupiterOne answers 429", ()),
    "pdgraph_people_runs_total": (
        "Audit-feed polls and light refreshes of users and teams by mode and outcome",
        ("mode", "outcome"),
    ),
    "pdgraph_people_changes_total": (
        "Graph changes written by the audit feed (audit) or the light refresh (refresh)",
        ("mode",),
    ),
}
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pdgraph_job_duration_seconds": (
        "Duration of RQ jobs by job and outcome (ok, failed)",
        ("job", "outcome"),
    ),
    "pdgraph_people_change_lag_seconds": (
        "From an audit record's execution time to the feed's write of its change",
        ("mode",),
    ),
}


def _field(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


class Recorder:
    """A process's buffered increments; flushed to Redis at most once per interval."""

    def __init__(self, interval: float = FLUSH_INTERVAL) -> None:
        self.interval = interval
        self.connection: redis.Redis | None = None
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], float] = {}
        self._last_flush = time.monotonic()
        self._hooked = False
        self._timer: threading.Thread | None = None

    def bind(self, connection: redis.Redis) -> None:
        """Count into this Redis from now on; the process writes what is left at exit, and a
        forked child drops what it inherited (its parent writes those counts)."""
        self.connection = connection
        if not self._hooked:
            self._hooked = True
            atexit.register(self.flush, quiet=True)
            os.register_at_fork(after_in_child=self.forget)
        self._start_timer()

    def _start_timer(self) -> None:
        """The thread that writes buffered counts once they are `interval` old."""
        with self._lock:
            if self._timer is not None and self._timer.is_alive():
                return
            self._timer = threading.Thread(target=self._flush_when_due, daemon=True)
            self._timer.start()

    def _flush_when_due(self) -> None:
        while True:
            time.sleep(max(self.interval, 0.1))
            with self._lock:
                due = bool(self._counts) and (time.monotonic() - self._last_flush >= self.interval)
            if due:
                self.flush()

    def count(self, name: str, labels: Mapping[str, str] | None = None, amount: float = 1) -> None:
        key = (metric_key(name), _field(labels or {}))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + amount
            due = time.monotonic() - self._last_flush >= self.interval
        if due:
            self.flush()

    def observe(self, name: str, value: float, labels: Mapping[str, str]) -> None:
        """One histogram observation: its bucket, the sum and the count."""
        base = _field(labels)
        bucket = next((str(b) for b in DURATION_BUCKETS if value <= b), "+Inf")
        with self._lock:
            for suffix, amount in ((f"le={bucket}", 1.0), ("sum", value), ("count", 1.0)):
                key = (metric_key(name), f"{base}\x1f{suffix}")
                self._counts[key] = self._counts.get(key, 0) + amount
        self.flush()  # a job is done: write now, a forked job ends with it

    def flush(self, *, quiet: bool = False) -> None:
        """Write the buffered counts; on a Redis error keep them (and say so unless quiet:
        at exit the log stream may be gone already)."""
        with self._lock:
            pending, self._counts = self._counts, {}
            self._last_flush = time.monotonic()
        if not pending or self.connection is None:
            with self._lock:
                for key, amount in pending.items():
                    self._counts[key] = self._counts.get(key, 0) + amount
            return
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                for (hash_key, field), amount in pending.items():
                    pipe.hincrbyfloat(hash_key, field, amount)
                pipe.execute()
        except redis.RedisError as exc:  # metrics must never fail the work: keep them
            if not quiet:
                log.warning("metrics not written (Redis unavailable): %s", type(exc).__name__)
            with self._lock:
                self._last_flush = time.monotonic() + 10 * self.interval  # Redis is down
                for key, amount in pending.items():
                    self._counts[key] = self._counts.get(key, 0) + amount

    def forget(self) -> None:
        """Drop the buffer (a forked child: its parent writes what it had counted); the
        child's own counts get a timer of its own (threads do not survive a fork)."""
        self._lock = threading.Lock()  # a fork may have copied it held by another thread
        self._counts = {}
        self._timer = None
        if self.connection is not None:
            self._start_timer()


recorder = Recorder()  # the process's; set up by bind() when the process starts


def count(name: str, labels: Mapping[str, str] | None = None, amount: float = 1) -> None:
    recorder.count(name, labels, amount)


def pagerduty_request(status: int) -> None:
    recorder.count("pdgraph_pagerduty_requests_total", {"status": str(status)})
    if status == 429:
        recorder.count("pdgraph_pagerduty_rate_limited_total")


def jupiterone_request(api: str, op: str, status: int) -> None:
    recorder.count("pdgraph_jupiterone_requests_total", {"api": api, "status": str(status)})
    if status == 429:
        recorder.count("pdgraph_jupiterone_rate_limited_total")


def timed(job: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Record the wrapped job's duration and outcome."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            outcome = "failed"
            try:
                result = func(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                recorder.observe(
                    "pdgraph_job_duration_seconds",
                    time.monotonic() - started,
                    {"job": job, "outcome": outcome},
                )

        return functools.wraps(func)(run)

    return decorate


# -- rendering ---------------------------------------------------------------------------


class RedisCollector:
    """Renders the counters in Redis and the gauges `gauges()` returns, at scrape time."""

    def __init__(
        self, connection: redis.Redis, gauges: Callable[[], Iterator[Metric]] | None = None
    ) -> None:
        self.connection = connection
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        names = [*COUNTERS, *HISTOGRAMS]
        with self.connection.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(metric_key(name))
            stored = dict(zip(names, pipe.execute(), strict=True))
        for name, (help_text, label_names) in COUNTERS.items():
            family = CounterMetricFamily(name, help_text, labels=label_names)
            for field, value in sorted(text_map(stored[name]).items()):
                labels = json.loads(field)
                family.add_metric([labels.get(n, "") for n in label_names], float(value))
            yield family
        for name, (help_text, label_names) in HISTOGRAMS.items():
            histogram = HistogramMetricFamily(name, help_text, labels=label_names)
            series: dict[str, dict[str, float]] = {}
            for field, value in text_map(stored[name]).items():
                base, _, suffix = field.partition("\x1f")
                series.setdefault(base, {})[suffix] = float(value)
            for base, parts in sorted(series.items()):
                labels = json.loads(base)
                cumulative, buckets = 0.0, []
                for bound in (*(str(b) for b in DURATION_BUCKETS), "+Inf"):
                    cumulative += parts.get(f"le={bound}", 0.0)
                    buckets.append((bound, cumulative))
                histogram.add_metric(
                    [labels.get(n, "") for n in label_names], buckets, parts.get("sum", 0.0)
                )
            yield histogram
        if self.gauges is not None:
            yield from self.gauges()


def render(connection: redis.Redis, gauges: Callable[[], Iterator[Metric]] | None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(connection, gauges))
    return generate_latest(registry)
