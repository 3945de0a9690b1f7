"""The audit-records feed: what changed in users, teams, memberships, escalation policies,
schedules and services, for objects that send no webhook (SPEC §6).

Every AUDIT_POLL_SECONDS the clock queues `worker.jobs.poll_audit_records`. One poll:

1. reads `GET /audit/records` (cursor pages, newest first) since the kept position, less
   OVERLAP_SECONDS: records can arrive late, and several share a request id; a record
   already written (its id is in the `seen` set) is skipped;
1b. keeps every new record in the change history as PagerDuty recorded it (`source:
   pagerduty`: its time, object, fields, actor and method), whatever the object looks
   like when it is re-read: a change undone before the poll is there too;
2. coalesces the records by object: one re-read per object however many records name it;
3. per object (worker.people_graph): re-read, transform, diff against the sink, write
   what changed with `Cause("audit", <newest record id>)` (and that record's actor and
   method), then mark its records seen;
   a service is handed to the webhook path's refresh (request_service_refresh); a
   deleted user's schedules and policies are re-read after it (its shifts left gaps);
3b. re-reads the on-calls of every policy named (a policy, or a policy escalating to a
   named schedule) and rewrites the ONCALL edges that moved (worker.oncall), once;
4. moves the position to the newest record read, only once every object is written: a
   poll killed mid-batch leaves it where it was, and the next one writes the rest once.

Objects written while a full sync runs are re-read once more after it (the sync may have
read PagerDuty before the change, and its replace_all would revert ours).

PagerDuty refuses the feed with 402 (plan) or 403 (key's role): then pdgraph falls back
to the light refresh (worker.people_refresh) and tries the feed again once a day, or
after a full sync.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from common import metrics
from common.clients.pagerduty import PagerDutyClient, PagerDutyObject
from common.graph import Cause, ChangeSet
from common.objects import KINDS, ObjectKind, kind_named
from common.sinks.history import Entry, audit_actor, audit_entry, audit_method
from common.state.freshness import AUDIT, REFRESH, read_mode, write_mode
from common.state.full_sync import last_full_sync, sync_window_is_open
from common.state.keys import freshness_key, text_map
from worker.coalescing import request_service_refresh
from worker.context import JobContext
from worker.object_refresh import refresh_moved_oncalls, refresh_object

log = logging.getLogger(__name__)

ROOT_RESOURCE_TYPES = tuple(kind.listing for kind in KINDS if kind.audited)
OVERLAP_SECONDS = 600  # records written up to 10 minutes late are still found
RECHECK_SECONDS = 24 * 3600  # a refused feed is tried again once a day (or after a sync)
MAX_BACK = 30 * 24 * 3600  # `since` at most this far back (PagerDuty: 31 days)
MAX_PAGES = 1000  # a cursor that never ends fails the poll instead of looping


def execution_epoch(record: PagerDutyObject) -> float:
    return datetime.fromisoformat(str(record["execution_time"])).timestamp()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@dataclass
class ObjectChanges:
    """The records naming one object: it is re-read once, its cause the newest record."""

    kind: str  # the root resource's type without `_reference`: user, team, service, ...
    id: str
    records: dict[str, float] = field(default_factory=dict)  # record id → execution time
    causes: dict[str, Cause] = field(default_factory=dict)  # record id → its cause

    @property
    def newest(self) -> str:
        return max(self.records, key=lambda r: (self.records[r], r)) if self.records else ""

    @property
    def cause(self) -> Cause:
        """The newest record, with its actor and method when the record was read."""
        return self.causes.get(self.newest) or Cause("audit", self.newest)


def record_cause(record: PagerDutyObject) -> Cause:
    """An audit record as the cause of the writes it leads to: its id, actor and method."""
    return Cause("audit", str(record["id"]), audit_actor(record), audit_method(record))


def root_object(record: PagerDutyObject) -> tuple[ObjectKind, str] | None:
    """The kind and id of the record's root resource (None: no id, or not a kind the
    feed reads)."""
    root = record.get("root_resource") or {}
    kind = kind_named(str(root.get("type") or "").removesuffix("_reference"))
    if not root.get("id") or kind is None or not kind.audited or kind.entity_type is None:
        return None
    return kind, str(root["id"])


def root_key(record: PagerDutyObject) -> tuple[str, str] | None:
    """The `_key` and `_type` of the entity the record's root resource is (None: not
    one the graph has)."""
    root = root_object(record)
    return None if root is None else (root[0].key(root[1]), str(root[0].entity_type))


def trail_entries(records: list[PagerDutyObject]) -> list[Entry]:
    """The change history's entries of the records, oldest first."""
    entries = []
    for record in sorted(records, key=lambda r: (execution_epoch(r), str(r["id"]))):
        root = root_key(record)
        if root is not None:
            entries.append(audit_entry(record, *root))
    return entries


# Objects are written in their kinds' write order (what an object's edges point at first).
WRITE_ORDER = {kind.name: kind.write_order for kind in KINDS}


def write_order(obj: ObjectChanges) -> tuple[int, float, str]:
    return WRITE_ORDER.get(obj.kind, len(WRITE_ORDER)), max(obj.records.values()), obj.id


def coalesce(records: list[PagerDutyObject]) -> list[ObjectChanges]:
    """The objects the records name, in WRITE_ORDER, oldest change first (a record of an
    unknown type, or without an id, names none)."""
    by_object: dict[tuple[str, str], ObjectChanges] = {}
    for record in records:
        root = root_object(record)
        if root is None:
            continue
        kind, object_id = root[0].name, root[1]
        changes = by_object.setdefault((kind, object_id), ObjectChanges(kind, object_id))
        changes.records[record["id"]] = execution_epoch(record)
        changes.causes[record["id"]] = record_cause(record)
    return sorted(by_object.values(), key=write_order)


def position(connection: redis.Redis) -> float | None:
    raw = connection.get(freshness_key("position"))
    return float(raw) if raw else None


def read_new_records(
    client: PagerDutyClient, connection: redis.Redis
) -> tuple[list[PagerDutyObject], int]:
    """The records since the position (less the overlap) not yet written, and how many
    were read in all. Without a position: PagerDuty's default, the past 24 hours."""
    kept = position(connection)
    # PagerDuty answers 400 past 31 days back; the full sync covers a longer outage.
    since = iso(max(kept - OVERLAP_SECONDS, time.time() - MAX_BACK)) if kept else None
    records: list[PagerDutyObject] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page, cursor = client.audit_records_page(ROOT_RESOURCE_TYPES, since=since, cursor=cursor)
        records += page
        if cursor is None:
            break
    else:
        raise RuntimeError(f"GET /audit/records: still paging after {MAX_PAGES} pages")
    ids = [str(r["id"]) for r in records]
    scores = connection.zmscore(freshness_key("seen"), ids) if ids else []
    unseen = {i: r for i, r, s in zip(ids, records, scores, strict=True) if s is None}
    return list(unseen.values()), len(records)


def take_rechecks(connection: redis.Redis) -> list[ObjectChanges]:
    """Objects written while a full sync ran, to be re-read now that none runs."""
    with connection.pipeline() as pipe:
        pipe.hgetall(freshness_key("recheck"))
        pipe.delete(freshness_key("recheck"))
        held, _ = pipe.execute()
    rechecks = []
    for ref, record_id in sorted(text_map(held).items()):
        kind, _, obj_id = ref.partition("/")
        rechecks.append(ObjectChanges(kind, obj_id, {record_id: 0.0}))
    return rechecks


def apply_object(context: JobContext, obj: ObjectChanges, policies: dict[str, Cause]) -> ChangeSet:
    """Re-read one object and write what changed (a kind with webhooks: queue the
    webhook path's refresh). Adds to `policies` (id → the record's cause) those whose
    on-calls the change may have moved."""
    cause, kind = obj.cause, kind_named(obj.kind)
    assert kind is not None  # coalesce keeps known kinds only
    if kind.webhooks:
        request_service_refresh(context.connection, obj.id, cause)
        return ChangeSet()
    changes, moved = refresh_object(context, kind, obj.id, cause)
    policies.update(dict.fromkeys(moved, cause))
    return changes


@dataclass
class PollRun:
    """What /status shows of one poll."""

    started_at: float
    outcome: str = "ok"
    records: int = 0  # read, overlap included
    new_records: int = 0
    trail_entries: int = 0  # records added to the change history (source pagerduty)
    objects: int = 0
    changes_applied: int = 0
    oncall_policies: int = 0  # policies whose on-calls were re-read
    lag_s: float | None = None  # from the newest change written to its write
    finished_at: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def poll_feed(context: JobContext, run: PollRun) -> None:
    """One poll (the caller holds the freshness lock); raises AuditTrailUnavailable."""
    connection = context.connection
    window_open = sync_window_is_open(connection)
    records, run.records = read_new_records(context.client, connection)
    # Kept as recorded before anything is re-read: the sink adds each record once, so a
    # poll that dies after this and reads the records again adds nothing twice.
    run.trail_entries = context.sink.record_trail(trail_entries(records))
    objects = coalesce(records)
    if not window_open:
        objects = sorted(take_rechecks(connection) + objects, key=write_order)
    run.new_records, run.objects = len(records), len(objects)
    policies: dict[str, Cause] = {}
    for obj in objects:
        changes = apply_object(context, obj, policies)
        run.changes_applied += changes.total
        written_at = time.time()
        with connection.pipeline() as pipe:
            real = {r: at for r, at in obj.records.items() if at > 0}
            if real:
                pipe.zadd(freshness_key("seen"), real)
            if window_open:
                pipe.hset(freshness_key("recheck"), f"{obj.kind}/{obj.id}", obj.newest)
            pipe.execute()
        if changes and obj.records:
            lag = written_at - max(obj.records.values())
            metrics.recorder.observe(
                "pdgraph_people_change_lag_seconds", max(0.0, lag), {"mode": AUDIT}
            )
            run.lag_s = round(lag, 3)
    run.oncall_policies = len(policies)
    if policies:
        cause = max(policies.values(), key=lambda c: c.id)
        run.changes_applied += refresh_moved_oncalls(context, set(policies), cause)
    advance_position(connection, records)


def advance_position(connection: redis.Redis, records: list[PagerDutyObject]) -> None:
    """Every record read is written: move the position to the newest, and forget the
    seen ids the next poll's overlap cannot reach."""
    if not records:
        return
    newest = max(execution_epoch(r) for r in records)
    kept = position(connection)
    if kept is not None and kept >= newest:
        return
    with connection.pipeline() as pipe:
        pipe.set(freshness_key("position"), repr(newest))
        pipe.zremrangebyscore(freshness_key("seen"), "-inf", newest - 2 * OVERLAP_SECONDS)
        pipe.execute()


def feed_due(connection: redis.Redis, now: float) -> bool:
    """Whether to read the feed: it worked last time, or was never tried, or it was
    refused more than a day ago or before the last full sync (a plan may be upgraded)."""
    mode = read_mode(connection)
    if mode is None or mode["mode"] == AUDIT:
        return True
    checked = float(mode.get("checked_at") or 0)
    sync = last_full_sync(connection) or {}
    return now - checked >= RECHECK_SECONDS or float(sync.get("started_at") or 0) > checked


def switch_mode(connection: redis.Redis, mode: str, reason: str | None) -> bool:
    """Record the mode; True (and one log line) when it changed."""
    before = read_mode(connection)
    write_mode(connection, mode, reason)
    if before is not None and before["mode"] == mode:
        return False
    if mode == REFRESH:
        log.warning(
            "audit records unavailable: users, teams, policies and schedules by light refresh",
            extra={"reason": reason},
        )
    else:
        log.info("audit records available: users, teams, policies and schedules by the feed")
    return True
