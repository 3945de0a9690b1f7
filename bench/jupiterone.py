"""JupiterOne requests per full sync and per incremental change (GRAPH_SINK=jupiterone).

Serves a simulated PagerDuty account and the JupiterOne simulator, runs the full sync into
an empty scope and again with nothing changed, then drives the webhook path's code
(re-read the service, diff against the mirror, write) for each kind of change, and prints
the JupiterOne requests each cost, by kind. Baseline in the same run: what one sync job
per change would cost (create + upload + finalize + poll, and relationships could not go
through PATCH at all) against what pdgraph spends.

    .venv/bin/python bench/jupiterone.py [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench._common import start_redis  # noqa: E402
from common.config import Settings  # noqa: E402
from common.pagerduty import PagerDutyClient  # noqa: E402
from common.sinks import make_sink  # noqa: E402
from common.sinks.jupiterone import JupiterOneSink  # noqa: E402
from sim.jupiterone import JupiterOneSim  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402
from worker import incremental, jobs  # noqa: E402
from worker.full_sync import run_full_sync  # noqa: E402

PD_KEY = "bench-pd-key"
J1_ACCOUNT, J1_KEY = "bench-account", "bench-j1-key"


def describe(calls: Counter[str]) -> str:
    return f"{sum(calls.values()):>4}  " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))


def refresh(client: PagerDutyClient, sink: JupiterOneSink, service_id: str) -> None:
    """A webhook job's refresh of the service (the flush job runs separately)."""
    graph, _ = incremental.read_service_graph(client, sink, service_id, None)
    incremental.write_service_graph(sink, service_id, graph)


def measure(users: int, connection: redis.Redis, redis_url: str) -> None:
    account = Account.generate(seed=5, users=users)
    with PagerDutySim(account, PD_KEY) as pd, JupiterOneSim(J1_ACCOUNT, J1_KEY) as j1:
        settings = Settings(
            pagerduty_api_key=PD_KEY,
            pagerduty_api_url=pd.url,
            graph_sink="jupiterone",
            jupiterone_account_id=J1_ACCOUNT,
            jupiterone_api_key=J1_KEY,
            jupiterone_api_url=j1.api_url,
            jupiterone_graphql_url=j1.graphql_url,
            pagerduty_requests_per_minute=100_000,
            redis_url=redis_url,
        )
        connection.flushdb()
        sink = make_sink(settings, connection)
        assert isinstance(sink, JupiterOneSink)
        print(f"\n{users} users, {len(account.services)} services, {len(account.teams)} teams")
        for label in ("full sync, empty scope", "full sync, nothing changed"):
            j1.reset_calls()
            started = time.perf_counter()
            run, _ = run_full_sync(settings, redis_client=connection, sink=sink)
            wall = time.perf_counter() - started
            job = list(j1.jobs.values())[-1]
            print(
                f"  {label:<30} {describe(j1.calls)}  "
                f"({run.graph and sum(run.graph.values())} objects, {job.uploads} uploads, "
                f"{wall:.1f}s)"
            )
        if users > 2000:
            return
        client = PagerDutyClient(PD_KEY, pd.url)
        services = sorted(account.services)

        def change(label: str, act: object, *service_ids: str) -> Counter[str]:
            j1.reset_calls()
            for service_id in service_ids:
                refresh(client, sink, service_id)
            sink.flush_pending()  # the flush job of the window
            print(f"  {label:<30} {describe(j1.calls)}")
            return Counter(j1.calls)

        change("no-op (service.updated)", None, services[0])
        account.update_service(services[0], name="renamed service")
        change("rename", None, services[0])
        account.delete_service(services[1])
        change("delete service", None, services[1])
        policy_id = account.services[services[2]]["escalation_policy_id"]
        on_policy = [
            s
            for s in services
            if account.services.get(s, {}).get("escalation_policy_id") == policy_id
        ]
        for n, user in enumerate(sorted(account.users)[10:12]):
            account.rotate_oncall(policy_id, user)
            change(
                f"on-call rotation ({'cold' if n == 0 else 'warm'} ids), {len(on_policy)} services",
                None,
                *on_policy,
            )
        # The on-call refresh job (hand-off or periodic): every changed service at once.
        os.environ.update(
            {
                k.upper(): str(v)
                for k, v in settings.model_dump(mode="json").items()
                if v is not None
            },
            PAGERDUTY_API_KEY=PD_KEY,
            JUPITERONE_API_KEY=J1_KEY,
            LOG_LEVEL="WARNING",
        )
        rotated = sorted(account.policies)[:5]
        for n, policy in enumerate(rotated):
            account.rotate_oncall(policy, sorted(account.users)[30 + n])
        j1.reset_calls()
        result = jobs.refresh_all_oncalls()
        label = f"on-call refresh, {result['services_changed']} services"
        print(f"  {label:<30} {describe(j1.calls)}")
        # Write-behind: 20 renames by 4 workers at once, then the window's flush job.
        renamed = services[3:23]
        for service_id in renamed:
            account.update_service(service_id, name=f"batch {service_id}")
        j1.reset_calls()
        sinks = [make_sink(settings, connection) for _ in range(4)]
        threads = [
            threading.Thread(
                target=lambda ids, s: [refresh(client, s, i) for i in ids],  # type: ignore[misc]
                args=(renamed[n::4], sinks[n]),
            )
            for n in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sink.flush_pending()
        print(f"  {'20 renames, 4 workers':<30} {describe(j1.calls)}")
        naive = 20 * 4
        print(
            f"  baseline: one PATCH job per rename = {naive} requests; pdgraph "
            f"{sum(j1.calls.values())} (ratio {sum(j1.calls.values()) / naive:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    server, url = start_redis()
    try:
        connection = redis.Redis.from_url(url)
        for users in args.sizes:
            measure(users, connection, url)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
