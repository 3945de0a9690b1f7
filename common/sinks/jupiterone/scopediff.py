"""Relationship changes and entity deletes: a debounced DIFF job of the whole scope.

JupiterOne does not document which subgraph a GraphQL-created relationship joins
(docs/jupiterone-writes.md). If it is not the sync scope, the nightly DIFF neither owns
nor deletes it and uploads a second edge of the same `_key`. So pdgraph never creates a
relationship through GraphQL: every relationship change, and every entity delete, goes
into the record at once (the record is what the scope is to hold) and marks the scope
*dirty*; a DIFF job then uploads the record, with the entity writes still buffered, and
JupiterOne makes the scope equal to it. Only the documented DIFF semantics are relied on.

The DIFF is debounced: it runs `window` seconds after the first change it carries, the
window being as long as the last DIFF took (between DIFF_WINDOW_MIN and DIFF_WINDOW_MAX),
so a stream of changes costs one DIFF per window and uploads never queue up. One DIFF,
PATCH flush or full sync at a time: they share the flush lock.

A record that no full sync built (lost Redis keys) must not become the scope: a DIFF runs
only when the record is marked complete (by the full sync), and not when it lost more
than half of the objects the last DIFF uploaded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from redis.lock import Lock

from common.graph import Entity, Graph, Relationship
from common.sinks.base import ScheduleFlush, SinkError
from common.sinks.jupiterone.layout import PARTITIONED, Layout
from common.sinks.jupiterone.partitions import partition_of
from common.sinks.jupiterone.record import JupiterOneRecord
from common.sinks.jupiterone.writebehind import FLUSH_LOCK_WAIT, flush_lock
from common.state.keys import text
from common.state.locks import held_locks

log = logging.getLogger(__name__)

DIFF_WINDOW_MIN = 1.0  # seconds between a relationship change and its DIFF, at least
DIFF_WINDOW_MAX = 30.0  # ... and at most: event → JupiterOne edge within about a minute
EARLY = 0.25  # a flush this close before the due time runs the DIFF anyway
KEPT_SHARE = 0.5  # a record with fewer objects than this share of the last DIFF's is lost

DiffJob = Callable[[Graph], str]  # run_diff_job bound to a client and scope: the job id
# diff_partitions bound to a client and scope: each partition's new content → the job ids
PartitionJob = Callable[[Mapping[int, Sequence[Relationship]]], list[str]]


class ScopeDiffs:
    """The scope's pending DIFF: marked by changes, run by the flush (or at once).

    In the partitioned layout (layout.py) the DIFF is of the edge partitions the changes
    touched (`partition_job`) and, when entities were deleted, of the entity scope's
    entities; what is buffered is PATCHed first (`before_upload`), so that a new edge's
    ends are in JupiterOne before the partition naming them.
    """

    def __init__(
        self,
        record: JupiterOneRecord,
        diff_job: DiffJob,
        *,
        schedule_flush: ScheduleFlush | None = None,
        window: tuple[float, float] = (DIFF_WINDOW_MIN, DIFF_WINDOW_MAX),
        layout: Layout | None = None,
        partition_job: PartitionJob | None = None,
        before_upload: Callable[[], int] | None = None,
    ) -> None:
        self.record, self.r, self.diff_job = record, record.r, diff_job
        self.schedule_flush = schedule_flush
        self.window_min, self.window_max = window
        self.layout, self.partition_job = layout, partition_job
        self.before_upload = before_upload

    # -- marking --------------------------------------------------------------------------

    def change(self, upserts: Sequence[Relationship], deletes: Sequence[str]) -> None:
        """Relationships to create or update, relationships and entities to delete: into
        the record now, into JupiterOne with the next DIFF (at once when not written
        behind)."""
        self.record.update(upserts, deletes)
        now = self.schedule_flush is None
        window = 0.0 if now else self.window()
        # Which partitions and whether entities changed, whatever the layout held (a
        # cut-over between this change and its DIFF finds them).
        touched = {partition_of(r.key) for r in upserts}
        touched |= {partition_of(k) for k in deletes if "|" in k}
        with self.r.pipeline(transaction=True) as pipe:
            pipe.set(self.record.key("diff:dirty"), repr(time.time() + window), nx=True)
            pipe.incrby(self.record.key("diff:changes"), len(upserts) + len(deletes))
            if touched:
                pipe.sadd(self.record.key("diff:partitions"), *touched)
            if any("|" not in k for k in deletes):
                pipe.set(self.record.key("diff:entities"), 1)
            pipe.execute()
        if self.schedule_flush is None:
            self.flush(force=True)
        else:
            self.schedule_flush(self.record.key("diff:flush-queued"), window)

    def window(self) -> float:
        """How long changes wait for their DIFF: as long as the last DIFF took. In edge
        partitions, not at all: the flush is queued at once, and the changes that come
        while it runs (it takes its batch when it starts) wait for the next one, so a
        window is as long as the DIFF in flight."""
        if self.layout is not None and self.layout.held() == PARTITIONED:
            return 0.0
        last = self.r.get(self.record.key("diff:last-seconds"))
        seconds = float(text(last)) if last is not None else 0.0
        return min(self.window_max, max(self.window_min, seconds))

    def waiting(self) -> int:
        """Relationship changes and entity deletes waiting for the next DIFF."""
        return int(self.r.get(self.record.key("diff:changes")) or 0)

    def completed(self, objects: int, seconds: float, entities: int = 0) -> None:
        """The full sync made the record the scope's content (`objects` of them, `entities`
        entities) in DIFF jobs of `seconds`: the webhook path's DIFFs take about as long."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.set(self.record.key("diff:complete"), str(objects))
            pipe.set(self.record.key("diff:entities-uploaded"), str(entities))
            pipe.set(self.record.key("diff:last-seconds"), repr(seconds))
            pipe.execute()

    # -- running --------------------------------------------------------------------------

    def lock(self) -> Lock:
        """The flush lock: one DIFF, PATCH flush or full sync of the scope at a time."""
        return flush_lock(self.r, self.record)

    @contextmanager
    def serialized(self, what: str) -> Iterator[None]:
        with held_locks(what) as locks:
            if not locks.acquire(self.lock()):
                raise SinkError(f"another JupiterOne write held its lock for {FLUSH_LOCK_WAIT}s")
            yield

    def flush(self, *, force: bool = False) -> int:
        """Run the DIFF if one is due (`force`: if one is pending); the objects it uploaded.

        On failure the scope stays dirty (the flush job is retried) and the error is raised.
        """
        due = self.r.get(self.record.key("diff:dirty"))
        if due is None:
            return 0
        wait = float(text(due)) - time.time()
        if not force and wait > EARLY:
            # Too early (RQ's scheduler counts whole seconds): make sure a flush comes.
            if self.schedule_flush is not None:
                self.r.delete(self.record.key("diff:flush-queued"))
                self.schedule_flush(self.record.key("diff:flush-queued"), wait)
            return 0
        with self.serialized("JupiterOne DIFF"):
            return self._run(force)

    def _run(self, force: bool) -> int:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.get(self.record.key("diff:dirty"))
            pipe.get(self.record.key("diff:complete"))
            due, complete = pipe.execute()
        if due is None or (not force and float(text(due)) > time.time() + EARLY):
            return 0  # another flush ran it while this one waited for the lock
        if complete is None:
            raise SinkError(
                "JupiterOne: no full sync has built the record of the scope yet (or its "
                "Redis keys were lost); relationship changes wait for `pdgraph sync`"
            )
        # Changes recorded from here on mark the scope again: they get the next DIFF.
        key = self.record.key
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(key("diff:dirty"), key("diff:flush-queued"))
            pipe.getset(key("diff:changes"), 0)
            pipe.smembers(key("diff:partitions"))
            pipe.get(key("diff:entities"))
            pipe.delete(key("diff:partitions"), key("diff:entities"))
            _, taken, partitions, entities, _ = pipe.execute()
        touched = {int(text(n)) for n in partitions}
        try:
            if self.layout is not None and self.layout.held() == PARTITIONED:
                return self._upload_partitioned(touched, entities is not None)
            return self._upload(int(text(complete)))
        except BaseException:
            with self.r.pipeline(transaction=True) as pipe:
                pipe.set(key("diff:dirty"), repr(time.time()), nx=True)
                pipe.incrby(key("diff:changes"), int(taken or 0))
                if touched:
                    pipe.sadd(key("diff:partitions"), *touched)
                if entities is not None:
                    pipe.set(key("diff:entities"), 1)
                pipe.execute()
            raise

    def _upload_partitioned(self, touched: set[int], entities_deleted: bool) -> int:
        """DIFF the partitions `touched` and, when entities were deleted, the entity scope's
        entities; the objects uploaded."""
        if self.partition_job is None:
            raise SinkError("JupiterOne: edge partitions held but no partition writer")
        if self.before_upload is not None:
            self.before_upload()  # PATCH the buffered: a new edge's new end exists first
        held = self.record.entity_keys()
        partitions = self.record.relationships_in(touched)
        dangling = [
            r.key
            for edges in partitions.values()
            for r in edges
            if r.from_key not in held or r.to_key not in held
        ]
        gone = set(dangling)
        partitions = {n: [r for r in edges if r.key not in gone] for n, edges in partitions.items()}
        started = time.monotonic()
        jobs = self.partition_job(partitions) if partitions else []
        count = sum(len(edges) for edges in partitions.values())
        if entities_deleted:
            count += self._diff_entities(held)
            jobs.append("entities")
        seconds = time.monotonic() - started
        self.r.set(self.record.key("diff:last-seconds"), repr(seconds))
        if dangling:
            self.record.update([], dangling)
        log.info(
            "jupiterone partition DIFF jobs of webhook changes finished",
            extra={"partitions": sorted(partitions), "jobs": len(jobs), "objects": count},
        )
        return count

    def _diff_entities(self, held: set[str]) -> int:
        """The entity scope's entities only (deletes, batched); refuses a record that lost
        more than half of what the last such DIFF uploaded."""
        last = int(text(self.r.get(self.record.key("diff:entities-uploaded")) or b"0"))
        if len(held) < last * KEPT_SHARE:
            raise SinkError(
                f"JupiterOne: the record holds {len(held)} entities, the last DIFF uploaded "
                f"{last}: refusing to delete the rest of the scope (Redis keys lost?); "
                "run `pdgraph sync`"
            )
        self.diff_job(Graph(self.record.entities(held), {}))
        self.r.set(self.record.key("diff:entities-uploaded"), str(len(held)))
        return len(held)

    def _upload(self, last_count: int) -> int:
        graph = self.record.read_graph()
        pending = self.r.hgetall(self.record.key("patch:pending"))
        for raw in pending.values():  # not flushed yet: newer than the record's
            entity = Entity.from_j1(json.loads(raw))
            graph.entities[entity.key] = entity
        dangling = [
            k
            for k, r in graph.relationships.items()
            if r.from_key not in graph.entities or r.to_key not in graph.entities
        ]
        for key in dangling:
            del graph.relationships[key]
        count = len(graph.entities) + len(graph.relationships)
        if count < last_count * KEPT_SHARE:
            raise SinkError(
                f"JupiterOne: the record holds {count} objects, the last DIFF uploaded "
                f"{last_count}: refusing to delete the rest of the scope (Redis keys lost?); "
                "run `pdgraph sync`"
            )
        started = time.monotonic()
        job_id = self.diff_job(graph)
        seconds = time.monotonic() - started
        with self.r.pipeline(transaction=True) as pipe:
            pipe.set(self.record.key("diff:last-seconds"), repr(seconds))
            pipe.set(self.record.key("diff:complete"), str(count))
            pipe.execute()
        if dangling:
            self.record.update([], dangling)
        log.info(
            "jupiterone DIFF job of webhook changes finished",
            extra={"job_id": job_id, "objects": count, "seconds": round(seconds, 3)},
        )
        return count
