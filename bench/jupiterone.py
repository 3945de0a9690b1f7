"""JupiterOne requests and rate-limit tokens per full sync and per incremental change
(GRAPH_SINK=jupiterone), and event → JupiterOne latency.

Serves a simulated PagerDuty account and the JupiterOne simulator (which enforces
JupiterOne's documented limits: GraphQL tokens 2,000/2 min per account and 1,000/min per
client, an aliased request of N mutations costing N; J1QL 120/120 s), runs the full sync
into an empty scope and again with nothing changed (the nightly sync), then drives the
webhook path's code (re-read the service, diff against what the sink holds, write) for
each kind of change, and prints what each cost: JupiterOne requests by kind, then GraphQL
tokens (`tok`) and J1QL queries (`j1ql`) as the simulator charged them. Baseline in the
same run: what one sync job per change would cost against what pdgraph spends.

Latency: with a real `worker` process (the Procfile's) running the write-behind flush
jobs, each sample changes PagerDuty, runs the webhook job's refresh here, and polls the
simulator's state (no requests) until the change shows: a rename (entity change, written
behind, flushed at the end of its 0.5 s window) and an on-call rotation (edge change).

Layouts (issue 22): each size runs twice, relationships in one scope (the default) and in
edge partitions (the layout pdgraph writes where `pdgraph jupiterone probe` verified it),
and a table compares, per on-call hand-off (one policy's rotation, its services
refreshed), the objects and JSON bytes the DIFF jobs uploaded, and the edge latency.

    .venv/bin/python bench/jupiterone.py [--sizes 1000 10000] [--samples 20]
                                         [--layouts scope partitioned]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench._common import (  # noqa: E402
    RAISED_BUDGET,
    configure,
    jupiterone_env,
    private_redis,
    procfile_command,
)
from common.clients.pagerduty import PagerDutyClient  # noqa: E402
from common.config import Settings  # noqa: E402
from common.objects import Build  # noqa: E402
from common.objects.service import service_key  # noqa: E402
from common.objects.user import user_key  # noqa: E402
from common.sinks import GraphSink, make_sink  # noqa: E402
from common.sinks.jupiterone.layout import PARTITIONED, SCOPE, Layout  # noqa: E402
from sim.jupiterone import JupiterOneSim  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402
from worker import jobs, service_refresh  # noqa: E402
from worker.flush import flush_scheduler  # noqa: E402
from worker.full_sync import run_full_sync  # noqa: E402

PD_KEY = "bench-pd-key"
J1_ACCOUNT, J1_KEY = "bench-account", "bench-j1-key"


def uploaded_since(j1: JupiterOneSim, jobs_before: int) -> tuple[int, int]:
    """(objects, JSON bytes) the sync jobs made after the first `jobs_before` uploaded."""
    with j1.state_lock:
        jobs = list(j1.jobs.values())[jobs_before:]
        objects = [o for j in jobs for o in (*j.entities.values(), *j.relationships.values())]
    return len(objects), sum(len(json.dumps(o)) for o in objects)


def describe(j1: JupiterOneSim) -> str:
    """Requests (by kind), then the GraphQL tokens and J1QL queries charged, since reset."""
    calls, charged = j1.calls, j1.charged
    refused = f", {sum(j1.refused.values())} × 429" if j1.refused else ""
    return (
        f"{sum(calls.values()):>4} req  {charged['graphql']:>3} tok  {charged['j1ql']:>3} j1ql"
        f"{refused}  " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Run:
    """One account size's simulators and pdgraph's side of them."""

    account: Account
    j1: JupiterOneSim
    settings: Settings
    connection: redis.Redis
    client: PagerDutyClient
    services: list[str] = field(init=False)  # as at the start: the cases below delete one

    def __post_init__(self) -> None:
        self.services = sorted(self.account.services)

    def sink(self) -> GraphSink:
        """A worker's sink: entity writes go behind, sent by the window's flush job."""
        return make_sink(
            self.settings, self.connection, schedule_flush=flush_scheduler(self.connection)
        )

    def refresh(self, sink: GraphSink, service_id: str) -> None:
        """A webhook job's refresh of the service (the flush job runs separately)."""
        graph, _ = service_refresh.read_service_graph(self.client, service_id, Build())
        service_refresh.write_service_graph(sink, service_id, graph)

    def refresh_each(self, sink: GraphSink, service_ids: list[str]) -> None:
        for service_id in service_ids:
            self.refresh(sink, service_id)

    def change(self, label: str, sink: GraphSink, *service_ids: str) -> tuple[int, int]:
        """Refresh these services, then run the window's flush; print what it all cost,
        and return the (objects, bytes) uploaded."""
        self.j1.reset_calls()
        jobs = len(self.j1.jobs)
        self.refresh_each(sink, list(service_ids))
        drain(sink)
        objects, size = uploaded_since(self.j1, jobs)
        print(f"  {label:<34} {describe(self.j1)}  ({objects:,} objects, {size:,} bytes)")
        return objects, size


def drain(sink: GraphSink, timeout: float = 60.0) -> None:
    """Flush until nothing waits: entity writes now, deferred writes (a debounced DIFF of
    the scope, if this version defers edges) once their window passed."""
    deadline = time.monotonic() + timeout
    sink.flush()
    while sink.waiting_writes() and time.monotonic() < deadline:
        time.sleep(0.1)
        sink.flush()


def measure_full_syncs(run: Run, sink: GraphSink) -> None:
    """Into an empty scope, then again with nothing changed."""
    for label in ("full sync, empty scope", "full sync, nothing changed"):
        run.j1.reset_calls()
        started = time.perf_counter()
        record, _ = run_full_sync(run.settings, redis_client=run.connection, sink=sink)
        wall = time.perf_counter() - started
        job = list(run.j1.jobs.values())[-1]
        print(
            f"  {label:<34} {describe(run.j1)}  "
            f"({record.graph and sum(record.graph.values())} objects, {job.uploads} uploads, "
            f"{wall:.1f}s)"
        )


def measure_single_changes(run: Run, sink: GraphSink) -> tuple[int, int]:
    """One webhook's worth of each kind of change, each with its flush; the (objects,
    bytes) of the warm on-call rotation (one hand-off)."""
    account, services = run.account, run.services
    run.change("no-op (service.updated)", sink, services[0])
    account.update_service(services[0], name="renamed service")
    run.change("rename", sink, services[0])
    account.delete_service(services[1])
    run.change("delete service", sink, services[1])
    policy_id = account.services[services[2]]["escalation_policy_id"]
    on_policy = [
        s for s in services if account.services.get(s, {}).get("escalation_policy_id") == policy_id
    ]
    handoff = (0, 0)
    for n, user in enumerate(sorted(account.users)[10:12]):
        account.rotate_oncall(policy_id, user)
        ids = "cold" if n == 0 else "warm"
        label = f"on-call rotation ({ids} ids), {len(on_policy)} services"
        handoff = run.change(label, sink, *on_policy)
    return handoff


def measure_oncall_refresh(run: Run) -> None:
    """The on-call refresh job (hand-off or periodic): every changed service at once."""
    for n, policy in enumerate(sorted(run.account.policies)[:5]):
        run.account.rotate_oncall(policy, sorted(run.account.users)[30 + n])
    run.j1.reset_calls()
    result = jobs.refresh_all_oncalls()
    drain(run.sink())
    label = f"on-call refresh, {result['services_changed']} services"
    print(f"  {label:<34} {describe(run.j1)}")


def measure_write_behind(run: Run, sink: GraphSink) -> None:
    """20 renames by 4 workers at once, then the window's flush job."""
    renamed = run.services[3:23]
    for service_id in renamed:
        run.account.update_service(service_id, name=f"batch {service_id}")
    run.j1.reset_calls()
    threads = [
        threading.Thread(target=run.refresh_each, args=(run.sink(), renamed[n::4]))
        for n in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drain(sink)
    print(f"  {'20 renames, 4 workers':<34} {describe(run.j1)}")
    naive = 20 * 4
    print(
        f"  baseline: one PATCH job per rename = {naive} requests; pdgraph "
        f"{sum(run.j1.calls.values())} (ratio {sum(run.j1.calls.values()) / naive:.2f})"
    )


def wait_until(seen: Callable[[], bool], timeout: float = 30.0) -> float | None:
    """Seconds until `seen()` held (polled every 5 ms), None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if seen():
            return time.monotonic() - started
        time.sleep(0.005)
    return None


def held_name(j1: JupiterOneSim, service_id: str) -> object:
    with j1.state_lock:
        entity = j1.scopes.get("pagerduty")
        found = entity.entities.get(service_key(service_id)) if entity else None
        return found.get("name") if found else None


def holds_edge(j1: JupiterOneSim, one: str, other: str) -> bool:
    """Any scope holds a relationship between these two entity keys."""
    with j1.state_lock:
        return any(
            {r.get("_fromEntityKey"), r.get("_toEntityKey")} == {one, other}
            for scope in j1.scopes.values()
            for r in scope.relationships.values()
        )


def start_worker(stack: list[subprocess.Popen[bytes]]) -> None:
    """The Procfile's worker, configured by this process's environment: runs the flushes."""
    command = procfile_command("worker", dict(os.environ))
    quiet = subprocess.DEVNULL
    stack.append(subprocess.Popen(command, cwd=ROOT, stdout=quiet, stderr=quiet))
    time.sleep(2)  # up and listening


def measure_latency(run: Run, samples: int) -> list[float]:
    """Event → JupiterOne: `samples` renames (entity) and on-call rotations (edges)."""
    sink, renamed, rotated = run.sink(), [], []
    services = [s for s in run.services if s in run.account.services][30:]
    for n in range(samples):
        service_id = services[n % len(services)]
        started = time.monotonic()
        run.account.update_service(service_id, name=f"lat {n}")
        run.refresh(sink, service_id)
        waited = wait_until(lambda s=service_id, n=n: held_name(run.j1, s) == f"lat {n}")
        renamed.append(None if waited is None else time.monotonic() - started)
    users = sorted(run.account.users)
    for n in range(samples):
        service_id = services[(samples + n) % len(services)]
        policy_id = run.account.services[service_id]["escalation_policy_id"]
        user_id = users[(100 + n) % len(users)]
        on_policy = [
            s for s in services if run.account.services[s]["escalation_policy_id"] == policy_id
        ]
        started = time.monotonic()
        run.account.rotate_oncall(policy_id, user_id)
        run.refresh_each(sink, on_policy)
        edge = (user_key(user_id), service_key(service_id))
        waited = wait_until(lambda edge=edge: holds_edge(run.j1, *edge))
        rotated.append(None if waited is None else time.monotonic() - started)
    for label, times in (("rename (entity)", renamed), ("on-call rotation (edges)", rotated)):
        seen = [t for t in times if t is not None]
        if not seen:
            print(f"  latency {label:<26} never seen in {len(times)} samples")
            continue
        print(
            f"  latency {label:<26} p50 {1000 * statistics.median(seen):6.0f} ms  "
            f"p99 {1000 * percentile(seen, 99):6.0f} ms  ({len(seen)}/{len(times)} seen)"
        )
    return [t for t in rotated if t is not None]


@dataclass
class LayoutResult:
    """What one size and layout measured of an on-call hand-off."""

    objects: int
    size: int
    latencies: list[float]

    def latency(self) -> str:
        if not self.latencies:
            return "never seen"
        p50, p99 = statistics.median(self.latencies), percentile(self.latencies, 99)
        return f"{p50:.2f} s / {p99:.2f} s"


def measure(
    users: int, connection: redis.Redis, redis_url: str, samples: int, layout: str
) -> LayoutResult:
    account = Account.generate(seed=5, users=users)
    with PagerDutySim(account, PD_KEY) as pd, JupiterOneSim(J1_ACCOUNT, J1_KEY) as j1:
        # In the environment too: the on-call refresh job loads its settings, as a worker does.
        settings = configure(
            PAGERDUTY_API_KEY=PD_KEY,
            PAGERDUTY_API_URL=pd.url,
            REDIS_URL=redis_url,
            **RAISED_BUDGET,
            **jupiterone_env(j1),
        )
        connection.flushdb()
        # The probe's verdict, as `pdgraph jupiterone probe` keeps it: the first full
        # sync writes the layout it allows.
        Layout(connection, J1_ACCOUNT, "pagerduty").keep_verdict({}, layout == PARTITIONED)
        run = Run(account, j1, settings, connection, PagerDutyClient(PD_KEY, pd.url))
        sink = run.sink()
        print(
            f"\n{users} users, {len(account.services)} services, {len(account.teams)} teams;"
            f" relationships in {layout}"
        )
        measure_full_syncs(run, sink)
        objects, size = measure_single_changes(run, sink)
        measure_oncall_refresh(run)
        measure_write_behind(run, sink)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            start_worker(workers)
            latencies = measure_latency(run, samples)
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(20)
    return LayoutResult(objects, size, latencies)


def print_comparison(results: dict[tuple[int, str], LayoutResult]) -> None:
    """Per size: one hand-off's upload and the edge latency, each layout, and the ratio."""
    print("\none on-call hand-off: objects and JSON bytes uploaded; edge latency p50 / p99")
    for (users, layout), r in sorted(results.items()):
        whole = results.get((users, SCOPE))
        share = f" ({r.objects / whole.objects:.2%} of one scope's)" if whole else ""
        print(
            f"  {users:>6} users, {layout:<11} {r.objects:>7,} objects{share}, "
            f"{r.size:>12,} bytes; latency {r.latency()}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--samples", type=int, default=20, help="latency samples per kind")
    parser.add_argument("--layouts", nargs="+", default=[SCOPE, PARTITIONED])
    args = parser.parse_args()
    results = {}
    with private_redis() as url:
        connection = redis.Redis.from_url(url)
        for users in args.sizes:
            for layout in args.layouts:
                results[users, layout] = measure(users, connection, url, args.samples, layout)
    print_comparison(results)


if __name__ == "__main__":
    main()
