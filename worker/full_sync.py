"""The full sync: read the whole account, build the graph, replace the sink's graph.

get (PagerDuty listings only, no per-object calls) → transform (common.transform,
pure) → load (the sink). Nothing is written unless every read succeeded, and a sync that
would delete more than half of the existing graph, or of any one type of object, stops
unless told otherwise (SPEC §6, issue 10).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn

import redis

from common.clients.pagerduty import (
    PagerDutyClient,
    ProgressCallback,
    client_from_settings,
)
from common.config import Settings
from common.graph import Cause, ChangeSet, Graph, GraphIndex, diff
from common.objects import (
    SEED_TYPES,
    WEBHOOK_MAINTAINED_TYPES,
    build_graph,
    service_policies_of,
    type_of_key,
)
from common.objects.account import read_account
from common.objects.base import PagerDutyObject
from common.sinks import GraphSink, make_sink
from common.state import dependencies as dependencies_state
from common.state.full_sync import (
    begin_full_sync,
    close_sync_window,
    open_sync_window,
    record_full_sync,
)
from common.state.keys import FULL_SYNC_LOCK
from common.state.locks import held_locks, lease
from worker.catalog import remember
from worker.coalescing import request_service_refresh
from worker.dependencies import carry_over, enlist_graph
from worker.oncall import record_service_policies, schedule_handoffs

log = logging.getLogger(__name__)
_OUTCOME_LEVEL = {"failed": logging.ERROR, "aborted": logging.WARNING}  # ok, dry_run: info


class FullSyncAborted(Exception):
    """The sync stopped before writing anything (mass-delete guard)."""


class FullSyncAlreadyRunning(Exception):
    """Another full sync holds the lock: this one was skipped, not queued."""


# A lease renewed every third of it while the sync runs: a killed sync (SIGKILL, a dyno
# restart) frees the lock within this, and the next tick runs (issue 17: 300 s skipped two).
LOCK_TTL_SECONDS = 30


@contextmanager
def full_sync_lock(redis_client: redis.Redis) -> Iterator[None]:
    """Exactly one full sync at a time, across clocks, workers and `pdgraph sync`.

    A lock with an owner token (redis-py's Lock: only its owner releases it) and an
    expiry, renewed while the sync runs (common.state.locks) so a long sync keeps it and a
    dead one loses it.
    """
    lock = lease(redis_client, FULL_SYNC_LOCK, seconds=LOCK_TTL_SECONDS)
    with held_locks("full-sync") as locks:
        if not locks.acquire(lock, blocking=False):
            log.info("full sync skipped: another one is running")
            raise FullSyncAlreadyRunning("another full sync is running; this one was skipped")
        yield


@dataclass
class FullSyncRun:
    """What `/status` and the CLI report about one run."""

    started_at: float
    outcome: str = "running"  # ok | dry_run | aborted | failed
    duration_s: float = 0.0
    pagerduty_requests: int = 0
    read: dict[str, int] = field(default_factory=dict)
    graph: dict[str, int] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)
    drift: int = 0  # objects the webhook path had wrong (see incremental_drift)
    error: str | None = None
    id: str = ""  # the run's id, the change history's cause: from started_at by default

    def __post_init__(self) -> None:
        if not self.id:
            moment = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.started_at))
            self.id = f"fullsync-{moment}.{int(self.started_at * 1000) % 1000:03d}Z"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def incremental_drift(current: GraphIndex, changes: ChangeSet) -> int:
    """Objects the webhook path should have kept current but the sink had wrong.

    Service entities and their ASSIGNED edges come with webhooks; users, teams and
    memberships do not (their changes are expected, not drift). ONCALL edges change with
    shift hand-offs, which send no webhook either. A first sync into an empty graph has
    no drift at all.
    """
    if not len(current):
        return 0
    changed = (
        *changes.create_entities,
        *changes.update_entities,
        *changes.create_relationships,
        *changes.update_relationships,
    )
    deleted = (*changes.delete_entities, *changes.delete_relationships)
    types = [o.type for o in changed] + [type_of_key(k) for k in deleted]
    return sum(1 for t in types if t in WEBHOOK_MAINTAINED_TYPES)


# The edges the two graph models name differently are counted together, under the seed
# model's name (switching GRAPH_MODEL replaces every one of them: new names, new keys),
# and by how many are left, not how many are deleted: that switch loses none of them, and
# on-call edges, keyed by their user, are mostly replaced by a hand-off the sink has not
# seen yet.
_COUNTED_BY_WHAT_IS_LEFT = frozenset(SEED_TYPES.values())
_GROUP_NAMES = {seed: f"{seed}/{other}" for other, seed in SEED_TYPES.items()}


def _count_types(keys: Iterable[str]) -> Counter[str]:
    types = (SEED_TYPES.get(t, t) for t in map(type_of_key, keys) if t is not None)
    return Counter(types)


def mass_deletions_by_type(current: GraphIndex, changes: ChangeSet) -> list[str]:
    """Each type of object this change set would mostly delete, or leave none of, with counts.

    A listing answering 200 with nothing (a `/teams` of `[]`) deletes one type whole while
    the graph as a whole loses well under half (issue 10: every team, 37 % of the graph).
    """
    had = _count_types([*current.entities, *current.relationships])
    deleted = _count_types([*changes.delete_entities, *changes.delete_relationships])
    created = _count_types(o.key for o in (*changes.create_entities, *changes.create_relationships))
    found = []
    for type_, n in sorted(had.items()):
        left = n - deleted[type_] + created[type_]
        lost = n - left if type_ in _COUNTED_BY_WHAT_IS_LEFT else deleted[type_]
        if left == 0 or lost * 2 > n:
            name = _GROUP_NAMES.get(type_, type_)
            found.append(f"{name} ({deleted[type_]} of {n}, {left or 'none'} left)")
    return found


def mass_delete_refusal(
    current: GraphIndex, changes: ChangeSet, writer: str = "the sync"
) -> str | None:
    """Why the mass-delete guard stops this change set (None: it does not); `writer` is
    who would have written it."""
    reasons = []
    if len(current) and changes.deletions * 2 > len(current):
        reasons.append(
            f"{changes.deletions} of {len(current)} objects (more than half of the graph)"
        )
    gutted = mass_deletions_by_type(current, changes)
    if gutted:
        reasons.append("more than half of " + ", ".join(gutted))
    if not reasons:
        return None
    return (
        f"{writer} would delete {'; and '.join(reasons)}; nothing was changed. If PagerDuty "
        "really lost them, run `pdgraph sync --allow-mass-delete`"
    )


def failed(run: Any, exc: Exception, *recorded: type[Exception]) -> NoReturn:
    """Raise `exc` again, `run` recording it as its outcome unless it is of a `recorded`
    type (that one set the run's outcome itself: the mass-delete guard)."""
    if not isinstance(exc, recorded):
        run.outcome, run.error = "failed", f"{type(exc).__name__}: {exc}"
    raise exc


def run_full_sync(
    settings: Settings,
    *,
    redis_client: redis.Redis,
    sink: GraphSink | None = None,
    client: PagerDutyClient | None = None,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[FullSyncRun, ChangeSet]:
    """Run one full sync and record it in Redis; raises after recording a failure.

    Raises FullSyncAlreadyRunning, having read nothing, when another sync holds the lock
    (a dry run writes nothing and takes no lock). A dry run is never stopped by the
    mass-delete guard, so that it can show its plan: it returns outcome "aborted" with
    the guard's reason as `error`, which is where the real run would stop.
    """
    with nullcontext() if dry_run else full_sync_lock(redis_client):
        if client is None:
            client = client_from_settings(settings, redis_client, progress)
        own_sink = sink is None
        sink = sink or make_sink(settings, redis_client)
        try:
            return _run_full_sync(
                settings, redis_client, sink, client, dry_run, allow_mass_delete, progress
            )
        finally:
            if own_sink:
                sink.close()


def _run_full_sync(
    settings: Settings,
    redis_client: redis.Redis,
    sink: GraphSink,
    client: PagerDutyClient,
    dry_run: bool,
    allow_mass_delete: bool,
    progress: ProgressCallback | None,
) -> tuple[FullSyncRun, ChangeSet]:
    run = FullSyncRun(started_at=time.time())
    started = time.monotonic()
    changes = ChangeSet()
    if not dry_run:
        begin_full_sync(redis_client, run.as_dict())
        open_sync_window(redis_client)
    try:
        kept = {"service_dependencies": dependencies_state.kept_reads(redis_client)}
        graph, read = _read_account(settings, client, run, progress, kept)
        current = sink.index()
        # Dependencies the pass has not read since Redis lost its reads: as the sink has them.
        if carry_over(graph, current, {str(r["id"]) for r in kept["service_dependencies"]}):
            run.graph = graph.counts_by_type()
        changes = diff(current, graph)
        run.changes = changes.summary()
        run.drift = incremental_drift(current, changes)
        refusal = None if allow_mass_delete else mass_delete_refusal(current, changes)
        if refusal is not None:
            run.outcome, run.error = "aborted", refusal
            if not dry_run:
                raise FullSyncAborted(refusal)
        elif dry_run:
            run.outcome = "dry_run"
        else:
            sink.replace_all(graph, Cause("full_sync", run.id))
            record_service_policies(redis_client, service_policies_of(graph))
            schedule_handoffs(redis_client, read["oncalls"])
            remember(redis_client, read)
            enlist_graph(redis_client, graph)
            run.outcome = "ok"
    except Exception as exc:
        failed(run, exc, FullSyncAborted)
    finally:
        run.duration_s = round(time.monotonic() - started, 3)
        run.pagerduty_requests = client.requests_made
        if not dry_run:
            _record_run(redis_client, run)
        level = _OUTCOME_LEVEL.get(run.outcome, logging.INFO)
        log.log(level, "full sync %s", run.outcome, extra={"run": run.as_dict()})
    return run, changes


def _read_account(
    settings: Settings,
    client: PagerDutyClient,
    run: FullSyncRun,
    progress: ProgressCallback | None,
    kept: Mapping[str, Sequence[PagerDutyObject]],
) -> tuple[Graph, dict[str, list[PagerDutyObject]]]:
    """The account's graph (with `kept`: the dependency pass's reads), and the listings
    kept past it: on-calls, tags, maintenance windows.

    The raw listings are dropped on return, keeping the peak RSS down.
    """
    snapshot = read_account(client, progress=progress, kept=kept)
    run.read = {name: n for name, n in snapshot.counts().items() if name not in kept}
    # Kept past the build: when each shift ends (the next hand-offs), and what the
    # catalog refresh compares its next read with.
    names = ("oncalls", "tags", "maintenance_windows")
    past_build = {n: list(snapshot.listings[n]) for n in names}
    build = snapshot.build(settings.account_name, settings.graph_model)
    graph = build_graph(snapshot.consuming(), build)
    run.graph = graph.counts_by_type()
    return graph, past_build


def _record_run(redis_client: redis.Redis, run: FullSyncRun) -> None:
    """The run's record for /status, and the re-reads the sync window asks for."""
    try:
        record_full_sync(redis_client, run.as_dict())
        # Services a webhook refreshed while we ran: our read of them may predate it.
        for service_id in close_sync_window(redis_client):
            request_service_refresh(redis_client, service_id, Cause("full_sync", run.id))
    except redis.RedisError as exc:  # the run's own outcome matters more
        log.error("could not record the full sync run: %s", exc)
