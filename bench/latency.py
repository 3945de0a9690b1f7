"""Event → graph latency: a steady stream of service renames through the whole path.

The simulated PagerDuty account renames a random service EVENTS_PER_S times a second
for SECONDS; each rename is POSTed as a signed v3 webhook to the Procfile's `web` process
(`python -m web`: gunicorn, gthread), queued in a private redis-server, picked up by the
Procfile's `worker` processes (`python -m worker`), re-read from the simulator and written
to the SQLite graph. A monitor polls the graph every 10 ms and records when each new name
appears. Prints p50/p99/max latency, the webhook POST round trip as the baseline (the part
before the queue), their ratio, and events never seen in the graph.

    .venv/bin/python bench/latency.py [--rate 50] [--seconds 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    RAISED_BUDGET,
    configure,
    free_port,
    jupiterone_env,
    private_redis,
    procfile_command,
    procfile_line,
)
from common.config import Settings  # noqa: E402
from common.objects.service import service_key  # noqa: E402
from sim.jupiterone import JupiterOneSim  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402
from worker.full_sync import run_full_sync  # noqa: E402

API_KEY = "bench-api-key"
SECRET = "bench-webhook-secret"
STRAGGLER_SECONDS = 30  # how long events may still reach the graph after the last rename


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class GraphNames:
    """The names the graph holds now for some services, from the SQLite file or the
    JupiterOne simulator (read directly: polled every 10 ms, it must not cost requests)."""

    def __init__(self, graph_path: str, j1: JupiterOneSim | None) -> None:
        self.graph_path = graph_path
        self.j1 = j1

    def of(self, service_ids: list[str], db: sqlite3.Connection) -> dict[str, str | None]:
        """Service id → its entity's name, for the services the graph holds."""
        by_key = {service_key(s): s for s in service_ids}
        if self.j1 is not None:
            with self.j1.state_lock:
                held = self.j1.scopes["pagerduty"].entities
                return {s: held[k].get("name") for k, s in by_key.items() if k in held}
        marks = ",".join("?" * len(by_key))
        rows = db.execute(
            f"SELECT key, json_extract(properties, '$.name') FROM entities WHERE key IN ({marks})",
            list(by_key),
        ).fetchall()
        return {by_key[key]: name for key, name in rows}

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.graph_path)


@dataclass
class Watcher:
    """Polls the graph for the renames sent and records how long each took to appear."""

    names: GraphNames
    pending: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # [(seq, sent)]
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    deadline: float = float("inf")

    def expect(self, service_id: str, seq: int, sent: float) -> None:
        with self.lock:
            self.pending.setdefault(service_id, []).append((seq, sent))

    def run(self) -> None:
        db = self.names.connect()
        while not self.stop.is_set() or self.pending:
            with self.lock:
                watched = list(self.pending)
            if watched:
                self.record(self.names.of(watched, db), time.monotonic())
            if self.stop.is_set() and time.monotonic() > self.deadline:
                return
            time.sleep(0.01)

    def record(self, names: dict[str, str | None], now: float) -> None:
        with self.lock:
            for service_id, name in names.items():
                if not name or not name.startswith("lat-"):
                    continue
                seen = int(name.split("-")[1])
                waiting = self.pending.get(service_id, [])
                # a later rename supersedes earlier ones: they are done too
                self.latencies.extend(now - t for q, t in waiting if q <= seen)
                rest = [(q, t) for q, t in waiting if q > seen]
                if rest:
                    self.pending[service_id] = rest
                else:
                    self.pending.pop(service_id, None)


@dataclass
class Load:
    """What driving the renames measured."""

    total: int
    elapsed: float
    services: int
    post_times: list[float]
    latencies: list[float]
    rejected: int
    pd_requests: int


@dataclass
class Stack:
    """The running simulators and the configuration every process of the run shares."""

    sim: PagerDutySim
    settings: Settings
    j1: JupiterOneSim | None


def start_stack(args: argparse.Namespace, stack: ExitStack) -> Stack:
    """The simulators, a private Redis, the configuration, and a first full sync."""
    sim = PagerDutySim(Account.generate(seed=5, users=args.users), API_KEY)
    sim.start()
    stack.callback(sim.stop)
    redis_url = stack.enter_context(private_redis())  # stopped after the processes
    j1 = JupiterOneSim() if args.jupiterone else None
    if j1 is not None:
        j1.start()
        stack.callback(j1.stop)
    settings = configure(
        PAGERDUTY_API_KEY=API_KEY,
        PAGERDUTY_API_URL=sim.url,
        PAGERDUTY_WEBHOOK_SECRETS=SECRET,
        REDIS_URL=redis_url,
        LOCAL_GRAPH_PATH=str(Path(tempfile.mkdtemp()) / "graph.sqlite3"),
        PORT=str(free_port()),
        WEB_CONCURRENCY="2",
        **RAISED_BUDGET,
        **(jupiterone_env(j1) if j1 is not None else {}),
    )
    run_full_sync(settings, redis_client=redis.Redis.from_url(redis_url))
    return Stack(sim, settings, j1)


def start_processes(settings: Settings, workers: int, stack: ExitStack) -> None:
    """The Procfile's `web` and `worker` processes, as deployed: configured by the
    environment. Returns once web answers and every process had time to start."""
    logs = Path(settings.local_graph_path).parent
    env = dict(os.environ)
    web = procfile_command("web", env)
    quiet = subprocess.DEVNULL
    processes = [("web", subprocess.Popen(web, cwd=ROOT, stdout=quiet, stderr=quiet))]
    for i in range(workers):
        log = stack.enter_context((logs / f"worker-{i}.log").open("wb"))
        command = procfile_command("worker", env)
        processes.append(
            (f"worker {i}", subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log))
        )
    stack.callback(stop_processes, processes)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{settings.port}/healthz", timeout=1)
            break
        except requests.RequestException:  # not listening yet, or its workers still booting
            time.sleep(0.1)
    else:
        raise SystemExit("the web process did not answer within 30 s")
    time.sleep(2)  # every gunicorn worker and RQ worker up


def stop_processes(processes: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for name, proc in reversed(processes):  # workers, then web
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            print(f"  {name} ignored SIGTERM for 20 s; killed")
            proc.kill()
            proc.wait()


def drive_renames(run: Stack, args: argparse.Namespace, watcher: Watcher) -> Load:
    """Rename a random service `--rate` times a second (each rename sends its webhook) and
    wait for the graph to show them, stragglers included."""
    sim = run.sim
    sender = sim.send_webhooks_to(
        f"http://127.0.0.1:{run.settings.port}/webhooks/pagerduty", [SECRET]
    )
    services = sorted(sim.account.services)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    rng = random.Random(1)
    total = int(args.rate * args.seconds)
    post_times: list[float] = []
    start = time.monotonic()
    sim.reset_requests()
    for seq in range(total):
        time.sleep(max(0.0, start + seq / args.rate - time.monotonic()))
        service_id = rng.choice(services)
        sent = time.monotonic()
        watcher.expect(service_id, seq, sent)
        with sim.lock:
            sim.account.update_service(service_id, name=f"lat-{seq}")
        post_times.append(time.monotonic() - sent)
    elapsed = time.monotonic() - start
    watcher.deadline = time.monotonic() + STRAGGLER_SECONDS
    watcher.stop.set()
    thread.join(STRAGGLER_SECONDS + 5)
    return Load(
        total=total,
        elapsed=elapsed,
        services=len(services),
        post_times=post_times,
        latencies=watcher.latencies,
        rejected=sum(1 for d in sender.deliveries if not d.delivered),
        pd_requests=sum(sim.request_counts().values()),
    )


def print_unseen(sim: PagerDutySim, watcher: Watcher) -> None:
    """A few renames the graph never showed, with what each side holds."""
    db = watcher.names.connect()
    for service_id, waiting in list(watcher.pending.items())[:5]:
        held = watcher.names.of([service_id], db)
        print(
            f"  unseen: {service_id} waiting for {[q for q, _ in waiting]}, graph has "
            f"{held}, PagerDuty has {sim.account.services[service_id]['name']}"
        )


def print_figures(load: Load, args: argparse.Namespace, j1: JupiterOneSim | None) -> None:
    latencies, post_times = load.latencies, load.post_times
    print(
        f"{load.total} renames at {load.total / load.elapsed:.1f}/s for {load.elapsed:.0f}s "
        f"over {load.services} services; web ({procfile_line('web')}) + "
        f"{args.workers} × worker ({procfile_line('worker')}), as in the Procfile"
    )
    print(
        f"  event → graph: p50 {1000 * statistics.median(latencies):.0f} ms  "
        f"p99 {1000 * percentile(latencies, 99):.0f} ms  max {1000 * max(latencies):.0f} ms"
    )
    print(
        f"  baseline, webhook POST → 202: p50 {1000 * statistics.median(post_times):.1f} ms  "
        f"p99 {1000 * percentile(post_times, 99):.1f} ms"
    )
    print(
        f"  ratio p99 event→graph / p99 POST: "
        f"{percentile(latencies, 99) / percentile(post_times, 99):.0f}x"
    )
    lost = load.total - len(latencies)
    print(
        f"  not in the graph after {STRAGGLER_SECONDS} s: {lost}; "
        f"deliveries not accepted: {load.rejected}"
    )
    if j1 is not None:
        calls = dict(sorted(j1.calls.items()))
        print(f"  JupiterOne requests: {sum(calls.values())} {calls}")
    per_event = load.pd_requests / load.total
    print(
        f"  PagerDuty requests: {load.pd_requests} ({per_event:.2f} per event, "
        f"{load.pd_requests / load.elapsed:.0f}/s; budget raised for this run). At PagerDuty's "
        f"960/min per key the webhook path sustains about {16 / per_event:.0f} events/s."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="pdgraph event → graph latency benchmark")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument(
        "--jupiterone",
        action="store_true",
        help="write to the JupiterOne simulator (PATCH jobs shared within 0.5 s) instead",
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        run = start_stack(args, stack)
        watcher = Watcher(GraphNames(run.settings.local_graph_path, run.j1))
        start_processes(run.settings, args.workers, stack)
        load = drive_renames(run, args, watcher)
        print_unseen(run.sim, watcher)
    print_figures(load, args, run.j1)


if __name__ == "__main__":
    main()
