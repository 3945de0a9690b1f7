"""JupiterOne requests per full sync and per incremental change (GRAPH_SINK=jupiterone).

Serves a simulated PagerDuty account and the JupiterOne simulator, runs the full sync into
an empty scope and again with nothing changed, then drives the webhook path's code
(re-read the service, diff against what the sink holds, write) for each kind of change,
and prints the JupiterOne requests each cost, by kind. Baseline in the same run: what one sync job
per change would cost (create + upload + finalize + poll, and relationships could not go
through PATCH at all) against what pdgraph spends.

    .venv/bin/python bench/jupiterone.py [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench._common import RAISED_BUDGET, configure, jupiterone_env, private_redis  # noqa: E402
from common.config import Settings  # noqa: E402
from common.pagerduty import PagerDutyClient  # noqa: E402
from common.sinks import GraphSink, make_sink  # noqa: E402
from sim.jupiterone import JupiterOneSim  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402
from worker import jobs, service_refresh  # noqa: E402
from worker.flush import flush_scheduler  # noqa: E402
from worker.full_sync import run_full_sync  # noqa: E402

PD_KEY = "bench-pd-key"
J1_ACCOUNT, J1_KEY = "bench-account", "bench-j1-key"


def describe(calls: Counter[str]) -> str:
    return f"{sum(calls.values()):>4}  " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))


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
        graph, _ = service_refresh.read_service_graph(self.client, sink, service_id, None)
        service_refresh.write_service_graph(sink, service_id, graph)

    def refresh_each(self, sink: GraphSink, service_ids: list[str]) -> None:
        for service_id in service_ids:
            self.refresh(sink, service_id)

    def change(self, label: str, sink: GraphSink, *service_ids: str) -> None:
        """Refresh these services, then run the window's flush; print what it all cost."""
        self.j1.reset_calls()
        self.refresh_each(sink, list(service_ids))
        sink.flush()
        print(f"  {label:<30} {describe(self.j1.calls)}")


def measure_full_syncs(run: Run, sink: GraphSink) -> None:
    """Into an empty scope, then again with nothing changed."""
    for label in ("full sync, empty scope", "full sync, nothing changed"):
        run.j1.reset_calls()
        started = time.perf_counter()
        record, _ = run_full_sync(run.settings, redis_client=run.connection, sink=sink)
        wall = time.perf_counter() - started
        job = list(run.j1.jobs.values())[-1]
        print(
            f"  {label:<30} {describe(run.j1.calls)}  "
            f"({record.graph and sum(record.graph.values())} objects, {job.uploads} uploads, "
            f"{wall:.1f}s)"
        )


def measure_single_changes(run: Run, sink: GraphSink) -> None:
    """One webhook's worth of each kind of change, each with its flush."""
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
    for n, user in enumerate(sorted(account.users)[10:12]):
        account.rotate_oncall(policy_id, user)
        ids = "cold" if n == 0 else "warm"
        run.change(f"on-call rotation ({ids} ids), {len(on_policy)} services", sink, *on_policy)


def measure_oncall_refresh(run: Run) -> None:
    """The on-call refresh job (hand-off or periodic): every changed service at once."""
    for n, policy in enumerate(sorted(run.account.policies)[:5]):
        run.account.rotate_oncall(policy, sorted(run.account.users)[30 + n])
    run.j1.reset_calls()
    result = jobs.refresh_all_oncalls()
    label = f"on-call refresh, {result['services_changed']} services"
    print(f"  {label:<30} {describe(run.j1.calls)}")


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
    sink.flush()
    print(f"  {'20 renames, 4 workers':<30} {describe(run.j1.calls)}")
    naive = 20 * 4
    print(
        f"  baseline: one PATCH job per rename = {naive} requests; pdgraph "
        f"{sum(run.j1.calls.values())} (ratio {sum(run.j1.calls.values()) / naive:.2f})"
    )


def measure(users: int, connection: redis.Redis, redis_url: str) -> None:
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
        run = Run(account, j1, settings, connection, PagerDutyClient(PD_KEY, pd.url))
        sink = run.sink()
        print(f"\n{users} users, {len(account.services)} services, {len(account.teams)} teams")
        measure_full_syncs(run, sink)
        if users > 2000:
            return
        measure_single_changes(run, sink)
        measure_oncall_refresh(run)
        measure_write_behind(run, sink)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    with private_redis() as url:
        connection = redis.Redis.from_url(url)
        for users in args.sizes:
            measure(users, connection, url)


if __name__ == "__main__":
    main()
