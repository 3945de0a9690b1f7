"""The change history's size: entries and bytes per day, for both sinks, at `--sizes` users.

How long CHANGE_HISTORY_DAYS can be depends on what a day of history weighs. For each
account size and each sink (`local`: the SQLite `changes` table; `jupiterone`: the Redis
stream beside the record) this runs one realistic day through pdgraph's own code paths,
against the PagerDuty simulator (and the JupiterOne simulator) over sockets, with a
private redis-server. pdgraph's clock (time-machine) and the simulator's (sim/clock.py)
move together, event by event, so a day takes a minute or two, not 24 hours:

- 03:00 UTC, the first full sync (the initial load: every object `created`; a one-off,
  reported apart), then a day of:
  - on-call hand-offs as the schedules rotate (`--shift-hours`, given to the schedules in
    turn, each handing off at its own time of the week or day): the hand-off refreshes
    pdgraph schedules itself (worker/oncall.py), and the safety refresh;
  - people changes through the audit-records feed (`poll_feed_or_refresh` at the 30 s tick after
    each change; polls that find nothing write nothing, and are skipped), each record
    also kept as its own `source: pagerduty` entry, at the RATES below;
  - webhooks (receiver → RQ, run by a burst worker every `--drain-minutes`): service
    edits and incidents (an incident moves its service's `lastIncidentOn`);
- 03:00 UTC the next day, the nightly full sync: every schedule's coverage is read for
  the 7 days from then, so a schedule with a gap in them (`--gapped-share` of the
  schedules have a rotation slot nobody covers) may be rewritten every night.

It prints entries and JSON bytes by kind, for the initial load and for the day; what the
history's storage grew by (SQLite: pages of the `changes` table, its indexes and the
`audit_trail` ids, from dbstat; Redis: MEMORY USAGE … SAMPLES 0 of the stream and of the
trail's record-id set); what leaner encodings of the dominant entries would take; the
days that fit in Heroku's 25 / 50 / 100 MB Redis plans once the rest of pdgraph's Redis
is counted; and 7 days, 30, 90 and a year, with the smallest plan that holds them.

    .venv/bin/python bench/history.py [--sizes 2000 10000] [--sinks local jupiterone]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from contextlib import ExitStack
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
)
from bench.history_day import (  # noqa: E402
    API_KEY,
    DAY,
    INCIDENTS_PER_SERVICE,
    J1_ACCOUNT,
    J1_KEY,
    RATES,
    WEBHOOK_SECRET,
    SimTime,
    daily_counts,
    drain,
    failed_jobs,
    next_3am,
    receiver,
    schedule_handoffs,
    shape_schedules,
    simulate_day,
)
from bench.history_store import KINDS, LocalHistory, RedisHistory, Tally  # noqa: E402
from sim.jupiterone import JupiterOneSim  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402
from worker import jobs  # noqa: E402
from worker.context import job_context  # noqa: E402

MB = 1_000_000
# Heroku Key-Value Store (Redis) plans and their RAM ("Technical Characterization", Oct 2024),
# taken as 10^6 bytes per MB (the smaller reading).
PLANS = (
    ("mini", 25),
    ("premium-0", 50),
    ("premium-1", 100),
    ("premium-2", 250),
    ("premium-3", 500),
    ("premium-4", 750),
    ("premium-5", 1000),
    ("premium-7", 7000),
)
SMALL_PLANS = PLANS[:3]

# -- one day ------------------------------------------------------------------------------


@dataclass
class Result:
    users: int
    sink: str
    objects: str  # the account's size, as a phrase
    gapped: int  # schedules with a shift nobody covers
    schedules: int
    schedule_handoffs: int  # in the day
    reached: float  # services a schedule reaches, on average
    initial: Tally = field(default_factory=Tally)
    initial_stored: int = 0
    day: Tally = field(default_factory=Tally)
    day_stored: int = 0
    handoff_runs: int = 0  # hand-off refreshes pdgraph ran
    record: int = 0  # Redis: the JupiterOne sink's record (pdgraph:j1:*, history aside)
    state: int = 0  # Redis: pdgraph's other keys
    redis_base: int = 0  # Redis: the server's own memory at startup
    failed: int = 0
    seconds: float = 0.0

    @property
    def fixed(self) -> int:
        """Redis besides the history."""
        return self.redis_base + self.record + self.state


def serve(
    stack: ExitStack,
    account: Account,
    sink: str,
    args: argparse.Namespace,
    redis_url: str,
    graph_path: str,
    connection: redis.Redis,
) -> None:
    """The simulators (PagerDuty, and JupiterOne for that sink), pdgraph configured for
    them, and the webhook receiver PagerDuty sends to."""
    pd = stack.enter_context(PagerDutySim(account, API_KEY))
    env = {}
    if sink == "jupiterone":
        env = jupiterone_env(stack.enter_context(JupiterOneSim(J1_ACCOUNT, J1_KEY)))
    settings = configure(
        PAGERDUTY_API_KEY=API_KEY,
        PAGERDUTY_API_URL=pd.url,
        PAGERDUTY_WEBHOOK_SECRETS=WEBHOOK_SECRET,
        REDIS_URL=redis_url,
        LOCAL_GRAPH_PATH=graph_path,
        CHANGE_HISTORY_DAYS="3650",  # nothing pruned while measuring
        ONCALL_REFRESH_MINUTES=str(args.safety_minutes),
        **RAISED_BUDGET,
        **env,
    )
    pd.send_webhooks_to(stack.enter_context(receiver(settings, connection)), [WEBHOOK_SECRET])


def run_day(users: int, sink: str, args: argparse.Namespace, redis_url: str) -> Result:
    """The initial load, then one day and its nightly full sync, measured."""
    started = time.perf_counter()
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    start = next_3am(time.time())
    sim_time = SimTime(start)
    graph_path = tempfile.mktemp(suffix=".sqlite3")
    try:
        with ExitStack() as stack:
            account = Account.generate(seed=17, users=users, clock=sim_time.clock)
            gapped = shape_schedules(account, args.shift_hours, args.gapped_share, random.Random(5))
            result = Result(
                users,
                sink,
                f"{len(account.teams):,} teams, {len(account.services):,} services, "
                f"{len(account.policies):,} policies, {len(account.schedules):,} schedules",
                gapped,
                len(account.schedules),
                *schedule_handoffs(account, start, start + DAY),
                redis_base=int(connection.info("memory")["used_memory_startup"]),
            )
            serve(stack, account, sink, args, redis_url, graph_path, connection)
            history: LocalHistory | RedisHistory = (
                LocalHistory(graph_path) if sink == "local" else RedisHistory(connection)
            )

            jobs.full_sync()  # the initial load
            drain(connection)
            loaded = history.position()
            result.initial = history.tally(history.origin)
            result.initial.raw.clear()
            result.initial_stored = history.stored()

            counts = daily_counts(users, len(account.services))
            result.handoff_runs = simulate_day(account, connection, sim_time, start, counts, args)
            sim_time.move_to(start + DAY)
            drain(connection)
            jobs.full_sync()  # the nightly one
            drain(connection)

            result.day = history.tally(loaded)
            result.day_stored = history.stored() - result.initial_stored
            result.failed = failed_jobs(connection)
            if isinstance(history, RedisHistory):
                result.record, result.state = history.rest()
            job_context().close()
    finally:
        sim_time.stop()
        for suffix in ("", "-wal", "-shm"):
            Path(graph_path + suffix).unlink(missing_ok=True)
    result.seconds = time.perf_counter() - started
    return result


# -- printing -----------------------------------------------------------------------------


def size(n: float) -> str:
    if abs(n) >= MB:
        return f"{n / MB:.1f} MB"
    return f"{n / 1000:.0f} kB"


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


HEADROOM = 0.9  # a plan counts as big enough with 10 % of it to spare
SPANS = (("7 days", 7), ("30 days", 30), ("90 days", 90), ("a year", 365))


def held(r: Result, days: int) -> int:
    """What `days` of history take, the initial load still among them (it is, for the
    first CHANGE_HISTORY_DAYS), and for the JupiterOne sink the rest of pdgraph's Redis."""
    history = r.initial_stored + days * r.day_stored
    return history + (r.fixed if r.sink == "jupiterone" else 0)


def smallest_plan(needed: float) -> str:
    for name, mb in PLANS:
        if needed <= HEADROOM * mb * MB:
            return name
    return "none"


def span_text(r: Result, days: int) -> str:
    needed = held(r, days)
    plan = f" {smallest_plan(needed)}" if r.sink == "jupiterone" else ""
    return size(needed) + plan


def print_result(r: Result) -> None:
    store = "SQLite `changes`" if r.sink == "local" else "Redis stream"
    print(
        f"\n== {r.users:,} users, {r.sink} sink ({store}): {r.objects} ({r.gapped} with a "
        f"shift nobody covers); simulated in {r.seconds:.0f} s"
    )
    i, d = r.initial, r.day
    print(
        f"   initial load (first full sync, one-off): {i.total_entries:,} entries, "
        f"{size(i.total_bytes)} JSON, {size(r.initial_stored)} stored"
    )
    print(
        f"   day 2: {r.schedule_handoffs} schedule hand-offs (a schedule reaches "
        f"{r.reached:.1f} services), {r.handoff_runs} hand-off refreshes"
    )
    print(f"     {'kind':<38}{'entries':>9}{'JSON':>10}{'per entry':>11}{'share':>7}")
    for kind, label in KINDS:
        if d.entries[kind]:
            print(
                f"     {label:<38}{d.entries[kind]:>9,}{size(d.json_bytes[kind]):>10}"
                f"{d.json_bytes[kind] / d.entries[kind]:>9.0f} B"
                f"{share(d.json_bytes[kind], d.total_bytes):>7}"
            )
    for kind in sorted(set(d.entries) - {k for k, _ in KINDS}):
        print(f"     {kind:<38}{d.entries[kind]:>9,}{size(d.json_bytes[kind]):>10}")
    print(
        f"     {'total':<38}{d.total_entries:>9,}{size(d.total_bytes):>10}"
        f"{d.total_bytes / max(1, d.total_entries):>9.0f} B"
    )
    print_details(r)


def print_details(r: Result) -> None:
    """What dominates, the nightly sync, stored bytes, leaner encodings and what fits."""
    d = r.day
    top = ", ".join(f"{name} {share(b, d.total_bytes)}" for name, b in d.by_type.most_common(4))
    print(f"     largest (kind:type:action): {top}")
    nightly = {k: n for k, n in d.count_by_type.items() if k.startswith("full_sync:")}
    schedules = d.count_by_type["full_sync:pagerduty_schedule:updated"]
    per_schedule = d.by_type["full_sync:pagerduty_schedule:updated"] / max(1, schedules)
    bound = (
        f"; were all {r.schedules} schedules' coverage rewritten every night: "
        f"{size(r.schedules * per_schedule)} a day"
        if schedules
        else ""
    )
    print(
        "     nightly full sync: "
        + (", ".join(f"{k.split(':', 1)[1]} {n}" for k, n in sorted(nightly.items())) or "-")
        + bound
    )
    how = (
        "pages of changes, its 2 indexes and audit_trail (dbstat)"
        if r.sink == "local"
        else "MEMORY USAGE SAMPLES 0 of the stream and the trail's id set"
    )
    print(
        f"   stored per day: {size(r.day_stored)} = {r.day_stored / max(1, d.total_bytes):.2f}"
        f" × the JSON ({how}); day / initial load = {r.day_stored / max(1, r.initial_stored):.2f}"
    )
    print(
        f"   on-call edges: {d.oncall_entries:,} entries, {share(d.oncall_bytes, d.total_bytes)}"
        f" of the JSON; without class, ends and nulls {size(d.oncall_bytes)} → "
        f"{size(d.oncall_compact)} ({d.oncall_compact / max(1, d.oncall_bytes):.2f}×); "
        f"one entry per policy a run moved: {len(d.oncall_moves):,} entries; "
        f"the day's JSON zlib-compressed 100 entries at a time: "
        f"{d.compressed() / max(1, d.total_bytes):.2f}×"
    )
    if r.sink == "jupiterone":
        print(
            f"   Redis besides the history: record {size(r.record)} + pdgraph's other keys "
            f"{size(r.state)} + Redis at startup {size(r.redis_base)} = {size(r.fixed)}"
        )
        fits = []
        for name, mb in SMALL_PLANS:
            room = mb * MB - r.fixed
            first = max(0.0, (room - r.initial_stored) / max(1, r.day_stored))
            after = max(0.0, room / max(1, r.day_stored))
            fits.append(f"{name} ({mb} MB) {first:.0f} ({after:.0f})")
        print("   days of history that fit (once the initial load expired): " + ", ".join(fits))
    where = "Redis, all of it" if r.sink == "jupiterone" else "on disk"
    print(f"   {where}: " + ", ".join(f"{label} {span_text(r, days)}" for label, days in SPANS))
    if r.failed:
        print(f"   WARNING: {r.failed} jobs failed")


def summary(results: list[Result]) -> None:
    print(
        "\nsummary: history stored per day, and what CHANGE_HISTORY_DAYS days take with the "
        "initial load (jupiterone: all of pdgraph's Redis, and the smallest Heroku plan with "
        f"{100 - 100 * HEADROOM:.0f} % to spare)"
    )
    print(f"  {'users':>6} {'sink':<11}{'a day':>9}" + "".join(f"{k:>24}" for k, _ in SPANS))
    for r in results:
        cells = "".join(f"{span_text(r, days):>24}" for _, days in SPANS)
        print(f"  {r.users:>6,} {r.sink:<11}{size(r.day_stored):>9}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--sinks", nargs="+", default=["local", "jupiterone"])
    parser.add_argument(
        "--shift-hours",
        type=float,
        nargs="+",
        default=[168, 24],
        help="rotation lengths, given to the schedules in turn",
    )
    parser.add_argument("--gapped-share", type=float, default=0.2)
    parser.add_argument(
        "--safety-minutes",
        type=int,
        default=240,
        help="minutes between on-call safety refreshes (pdgraph: 15; a change is written "
        "once whichever run finds it, so only the benchmark's time differs)",
    )
    parser.add_argument(
        "--drain-minutes",
        type=int,
        default=360,
        help="minutes between RQ worker runs (webhook jobs, service refreshes, JupiterOne "
        "flushes); each JupiterOne flush uploads the scope, which the history does not see",
    )
    args = parser.parse_args()
    rotations = " / ".join(f"{h:g} h" for h in args.shift_hours)
    print(
        f"a day per size and sink: schedules rotate every {rotations} (in turn), "
        f"{100 * args.gapped_share:g} % of them with a shift nobody covers; changes a day:"
    )
    for rate, what in RATES.values():
        print(f"  {100 * rate:g} % of users: {what}")
    print(f"  {INCIDENTS_PER_SERVICE:g} incidents per service (each moves its lastIncidentOn)")
    results = []
    with private_redis() as url:
        for users in args.sizes:
            for sink in args.sinks:
                results.append(run_day(users, sink, args, url))
                print_result(results[-1])
    summary(results)


if __name__ == "__main__":
    main()
