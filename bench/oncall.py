"""On-call freshness: PagerDuty requests and staleness over a simulated day of hand-offs.

A simulated account (schedules rotating every `--shift-hours`, staggered) runs on the
simulator's clock, which the benchmark moves forward event by event. Two strategies, each
after the same full sync, each with its own Redis database and graph:

- pdgraph: the refreshes pdgraph schedules itself (one per hand-off second, from the
  `end` times of /oncalls) plus the periodic safety refresh every ONCALL_REFRESH_MINUTES;
- baseline: re-read every policy's on-calls once a minute (what polling would do).

60 s after every real hand-off the graph must hold an ONCALL edge from the incoming
user to every service of every policy using that schedule. It prints PagerDuty requests,
hand-offs right within 60 s, and the request ratio pdgraph / baseline.

    .venv/bin/python bench/oncall.py [--users 1000] [--hours 24] [--shift-hours 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench._common import start_redis  # noqa: E402
from common.sinks.local import LocalSink  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402
from worker import jobs, oncall  # noqa: E402
from worker.full_sync import run_full_sync  # noqa: E402

API_KEY = "bench-api-key"


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def real_handoffs(account: Account, start: float, end: float) -> list[tuple[float, set[str]]]:
    """Every hand-off in [start, end): when, and the ONCALL edges that must then exist
    (the incoming user to every service of every policy using the schedule)."""
    services_of: dict[str, set[str]] = {}
    for sid, service in account.services.items():
        services_of.setdefault(service["escalation_policy_id"], set()).add(f"service:{sid}")
    moved: dict[str, set[str]] = {}  # schedule id → services of the policies using it
    for policy in account.policies.values():
        for level in policy.levels:
            for kind, target in level:
                if kind == "schedule":
                    moved.setdefault(target, set()).update(services_of.get(policy.id, set()))
    handoffs = []
    for schedule_id, services in moved.items():
        schedule = account.schedules[schedule_id]
        k = int((start - schedule.epoch) // schedule.shift_seconds) + 1
        while (at := schedule.epoch + k * schedule.shift_seconds) < end:
            incoming = schedule.on_call_at(at)[0]
            if services and incoming in account.users:
                handoffs.append((at, {f"user:{incoming}|oncall|{key}" for key in services}))
            k += 1
    return sorted(handoffs, key=lambda h: h[0])


def run(strategy: str, args: argparse.Namespace, redis_url: str, db: int) -> dict[str, float]:
    start = float(int(time.time()))
    clock = Clock(start)
    account = Account.generate(
        seed=11, users=args.users, shift_seconds=int(args.shift_hours * 3600), clock=clock
    )
    url = f"{redis_url.rsplit('/', 1)[0]}/{db}"
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    graph_path = tempfile.mktemp(suffix=".sqlite3")
    with PagerDutySim(account, API_KEY) as sim:
        os.environ.update(
            PAGERDUTY_API_KEY=API_KEY,
            PAGERDUTY_API_URL=sim.url,
            REDIS_URL=url,
            LOCAL_GRAPH_PATH=graph_path,
            PAGERDUTY_REQUESTS_PER_MINUTE="100000",
            ONCALL_REFRESH_MINUTES=str(args.refresh_minutes),
            LOG_LEVEL="WARNING",
        )
        from common.config import load_settings

        run_full_sync(load_settings(), redis_client=connection)
        sim.reset_requests()
        end = start + args.hours * 3600
        handoffs = real_handoffs(account, start, end)
        checks = [(at + 60, edges) for at, edges in handoffs]
        interval = 60 if strategy == "baseline" else args.refresh_minutes * 60
        periodic = (int(start) // interval + 1) * interval
        done_dues: set[int] = set()
        correct = 0
        sink = LocalSink(graph_path)
        while True:
            pending = (
                [
                    int(float(d))
                    for d in connection.zrangebyscore(oncall.HANDOFFS, start, "+inf")
                    if int(float(d)) not in done_dues
                ]
                if strategy == "pdgraph"
                else []
            )
            candidates = [("periodic", periodic)]
            if pending:
                candidates.append(("handoff", min(pending)))
            if checks:
                candidates.append(("check", checks[0][0]))
            kind, at = min(candidates, key=lambda c: (c[1], c[0] != "check"))
            if at >= end:
                break
            clock.now = at
            if kind == "periodic":
                jobs.refresh_all_oncalls()
                periodic += interval
            elif kind == "handoff":
                done_dues.add(int(at))
                jobs.refresh_oncall_handoff(int(at))
            else:
                _, edges = checks.pop(0)
                held = {r["_key"] for r in sink.read_graph().to_j1()["relationships"]}
                correct += edges <= held
        requests = sum(sim.request_counts().values())
    os.unlink(graph_path)
    return {"requests": requests, "handoffs": len(handoffs), "correct": correct}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--shift-hours", type=float, default=4)
    parser.add_argument("--refresh-minutes", type=int, default=15)
    args = parser.parse_args()
    server, url = start_redis()
    try:
        results = {}
        for db, strategy in enumerate(("pdgraph", "baseline"), start=1):
            started = time.perf_counter()
            results[strategy] = run(strategy, args, url, db)
            r = results[strategy]
            print(
                f"{strategy:<9} {r['requests']:>6.0f} PagerDuty requests in {args.hours:g} h; "
                f"graph right 60 s after {r['correct']:.0f}/{r['handoffs']:.0f} hand-offs "
                f"({time.perf_counter() - started:.1f}s to simulate)",
                flush=True,
            )
        ratio = results["pdgraph"]["requests"] / max(1, results["baseline"]["requests"])
        print(f"ratio pdgraph / per-minute polling: {ratio:.3f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
