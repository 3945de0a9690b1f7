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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench._common import RAISED_BUDGET, configure, private_redis  # noqa: E402
from common.objects.oncall import USER_ONCALL_SERVICE  # noqa: E402
from common.objects.service import service_key  # noqa: E402
from common.objects.user import user_key  # noqa: E402
from common.sinks import GraphSink, make_sink  # noqa: E402
from common.state import keys  # noqa: E402
from sim.clock import Clock  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402
from worker import jobs  # noqa: E402
from worker.full_sync import run_full_sync  # noqa: E402

API_KEY = "bench-api-key"


OncallPair = tuple[str, str]  # (user entity key, service entity key) of an ONCALL edge


def real_handoffs(
    account: Account, start: float, end: float
) -> list[tuple[float, set[OncallPair]]]:
    """Every hand-off in [start, end): when, and the ONCALL edges that must then exist
    (the incoming user to every service of every policy using the schedule)."""
    services_of: dict[str, set[str]] = {}
    for sid, service in account.services.items():
        services_of.setdefault(service["escalation_policy_id"], set()).add(service_key(sid))
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
                handoffs.append((at, {(user_key(incoming), key) for key in services}))
            k += 1
    return sorted(handoffs, key=lambda h: h[0])


def oncall_pairs(sink: GraphSink) -> set[OncallPair]:
    """The ONCALL edges the graph holds."""
    return {
        (r.from_key, r.to_key)
        for r in sink.read_graph().relationships.values()
        if r.type == USER_ONCALL_SERVICE
    }


@dataclass
class Day:
    """One strategy's simulated day: what runs when, on the simulator's clock."""

    strategy: str
    clock: Clock
    connection: redis.Redis
    sink: GraphSink
    start: float
    end: float
    interval: int  # seconds between periodic refreshes
    checks: list[tuple[float, set[OncallPair]]]  # (when, the edges that must exist then)
    done: set[int] = field(default_factory=set)  # hand-off refreshes run

    def pending_handoffs(self) -> list[int]:
        """The hand-off refreshes pdgraph scheduled that have not run yet."""
        held = self.connection.zrangebyscore(keys.HANDOFFS, self.start, "+inf")
        return [
            due for due in (int(float(d)) for d in keys.text_list(held)) if due not in self.done
        ]

    def simulate(self) -> int:
        """Run the refreshes and checks in time order; how many checks found the graph right."""
        periodic = (int(self.start) // self.interval + 1) * self.interval
        correct = 0
        while True:
            candidates: list[tuple[str, float]] = [("periodic", periodic)]
            if self.strategy == "pdgraph" and (pending := self.pending_handoffs()):
                candidates.append(("handoff", min(pending)))
            if self.checks:
                candidates.append(("check", self.checks[0][0]))
            kind, at = min(candidates, key=lambda c: (c[1], c[0] != "check"))
            if at >= self.end:
                return correct
            self.clock.now = at
            if kind == "periodic":
                jobs.refresh_all_oncalls()
                periodic += self.interval
            elif kind == "handoff":
                self.done.add(int(at))
                jobs.refresh_oncall_handoff(int(at))
            else:
                _, edges = self.checks.pop(0)
                correct += edges <= oncall_pairs(self.sink)


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
        settings = configure(
            PAGERDUTY_API_KEY=API_KEY,
            PAGERDUTY_API_URL=sim.url,
            REDIS_URL=url,
            LOCAL_GRAPH_PATH=graph_path,
            ONCALL_REFRESH_MINUTES=str(args.refresh_minutes),
            **RAISED_BUDGET,
        )
        run_full_sync(settings, redis_client=connection)
        sim.reset_requests()
        end = start + args.hours * 3600
        handoffs = real_handoffs(account, start, end)
        day = Day(
            strategy,
            clock,
            connection,
            make_sink(settings),
            start,
            end,
            interval=60 if strategy == "baseline" else args.refresh_minutes * 60,
            checks=[(at + 60, edges) for at, edges in handoffs],
        )
        correct = day.simulate()
        day.sink.close()
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
    with private_redis() as url:
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


if __name__ == "__main__":
    main()
