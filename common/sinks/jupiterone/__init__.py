"""The JupiterOne sink: DIFF sync jobs for edges and the full sync, PATCH jobs for entities.

What pdgraph wrote is kept in Redis (record.py); diffs run against it and only a change
reaches JupiterOne.

- `replace_all`: one DIFF job in the scope (syncjob.py), or, in the edge-partitioned
  layout (layout.py, partitions.py), one of the scope's entities and one per partition;
  the record moves only once JupiterOne finished them.
- `apply`: entity creates/updates are written behind, one PATCH job per window
  (writebehind.py); relationship creates/updates/deletes and entity deletes go into the
  record at once and reach JupiterOne in the next debounced DIFF job of the whole scope
  (scopediff.py), or of the partitions they touched. No relationship is written through
  GraphQL: JupiterOne does not document which subgraph such a relationship joins
  (docs/jupiterone-writes.md).
- `check`: credentials.py.
- the change history: a Redis stream beside the record (record.py); an entry is added in
  the transaction that moves the record, except for entity writes written behind, whose
  entries are added when the buffer takes them (the flush, or its retries, add none).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import redis

from common.clients.jupiterone import JupiterOneClient
from common.graph import Cause, ChangeSet, Graph, GraphIndex, diff
from common.sinks.base import ScheduleFlush
from common.sinks.history import ChangeJournal, Entry, Query, touched_keys
from common.sinks.jupiterone.credentials import check_credentials
from common.sinks.jupiterone.layout import PARTITIONED, SCOPE, Layout
from common.sinks.jupiterone.partitions import by_partition, diff_partitions
from common.sinks.jupiterone.record import JupiterOneRecord
from common.sinks.jupiterone.scopediff import DIFF_WINDOW_MAX, DIFF_WINDOW_MIN, ScopeDiffs
from common.sinks.jupiterone.syncjob import run_diff_job, run_patch_job
from common.sinks.jupiterone.writebehind import PATCH_WINDOW, WriteBehindBuffer

__all__ = ["JupiterOneRecord", "JupiterOneSink"]

log = logging.getLogger(__name__)


class JupiterOneSink:
    """A GraphSink writing to one JupiterOne scope.

    `schedule_flush` (see common.sinks.make_sink) is how buffered entity writes get their
    flush; without it `apply` writes them through.
    """

    def __init__(
        self,
        client: JupiterOneClient,
        connection: redis.Redis,
        scope: str,
        *,
        patch_window: float = PATCH_WINDOW,
        diff_window: tuple[float, float] = (DIFF_WINDOW_MIN, DIFF_WINDOW_MAX),
        schedule_flush: ScheduleFlush | None = None,
        history_days: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.scope = scope
        self._record = JupiterOneRecord(
            connection, client.account_id, scope, history_days=history_days, clock=clock
        )
        patch = partial(run_patch_job, client, scope)
        self._buffer = WriteBehindBuffer(
            self._record, patch, window=patch_window, schedule_flush=schedule_flush
        )
        self.layout = Layout(connection, client.account_id, scope)
        self._diffs = ScopeDiffs(
            self._record,
            partial(run_diff_job, client, scope),
            schedule_flush=schedule_flush,
            window=diff_window,
            layout=self.layout,
            partition_job=partial(diff_partitions, client, scope),
            before_upload=self._buffer.flush_held,
        )

    def __repr__(self) -> str:
        return f"JupiterOneSink(scope={self.scope!r})"

    # -- reading (the record) -----------------------------------------------------------

    def read_graph(self) -> Graph:
        return self._record.read_graph()

    # Diffs run against what JupiterOne holds *or will hold*: written, overlaid with the
    # buffered writes not yet flushed (else a change undone before the flush was lost).

    def index(self) -> GraphIndex:
        index = self._record.index()
        index.entities.update(self._buffer.fingerprints(None))
        return index

    def index_around(self, entity_key: str) -> GraphIndex:
        index = self._record.index_around(entity_key)
        index.entities.update(self._buffer.fingerprints([entity_key]))
        return index

    def existing(self, entity_keys: Iterable[str]) -> set[str]:
        keys = list(entity_keys)
        return self._record.existing(keys) | set(self._buffer.fingerprints(keys))

    def counts_by_type(self) -> dict[str, int]:
        return self._record.counts_by_type()

    def changes(
        self, query: Query, *, cursor: str | None, limit: int
    ) -> tuple[list[Entry], str | None]:
        return self._record.history_page(query, cursor, limit)

    def record_trail(self, entries: Sequence[Entry]) -> int:
        return self._record.add_trail(entries)

    def waiting_writes(self) -> int:
        return self._buffer.waiting() + self._diffs.waiting()

    def check(self) -> None:
        check_credentials(self.client, self.scope)

    def close(self) -> None:
        self.client.close()

    # -- writing ------------------------------------------------------------------------

    def replace_all(self, graph: Graph, cause: Cause | None = None) -> None:
        with self._diffs.serialized("JupiterOne full sync"):  # no webhook DIFF in between
            started = time.monotonic()
            job_id = self._write_whole(graph)
            objects = len(graph.entities) + len(graph.relationships)
            # The next webhook DIFF's window in one scope: as long as this one took (in
            # partitions there is none: ScopeDiffs.window).
            self._diffs.completed(objects, time.monotonic() - started, len(graph.entities))
            changes = diff(self._record.index(), graph)
            before = self._record.objects(touched_keys(changes))
            journal = ChangeJournal(changes, before, cause, self._record.clock())
            with self._record.journaling(journal):
                self._record.update(
                    [
                        *changes.create_entities,
                        *changes.update_entities,
                        *changes.create_relationships,
                        *changes.update_relationships,
                    ],
                    [*changes.delete_relationships, *changes.delete_entities],
                )
        log.info("jupiterone DIFF job finished", extra={"job_id": job_id, **changes.summary()})

    def _write_whole(self, graph: Graph) -> str:
        """Make JupiterOne hold `graph` in the layout wanted (layout.py), moving to it from
        the one held: never a `_key` in two scopes once done, never an edge missing on
        the way (for a moment, during a cut-over, an edge may be in both: the entity
        scope's copy goes last). The entity scope's job id."""
        held, wanted = self.layout.held(), self.layout.wanted()
        entities_only = Graph(graph.entities, {})
        if wanted == SCOPE:
            job_id = run_diff_job(self.client, self.scope, graph)
            if held == PARTITIONED or self.layout.partitions_written():
                # Back to one scope (or a cut-over that failed half-way): partitions empty.
                diff_partitions(self.client, self.scope, by_partition([]))
                self.layout.mark_partitions_written(False)
        else:
            self.layout.mark_partitions_written(True)
            # Into partitions from one scope: the scope keeps its edges until each
            # partition holds its own (new entities first: a partition names them).
            job_id = run_diff_job(
                self.client, self.scope, graph if held == SCOPE else entities_only
            )
            diff_partitions(self.client, self.scope, by_partition(graph.relationships.values()))
            if held == SCOPE:
                job_id = run_diff_job(self.client, self.scope, entities_only)
        if held != wanted:
            self.layout.set_held(wanted)
            log.info("jupiterone layout moved", extra={"from": held, "to": wanted})
        return job_id

    def _before(self, changes: ChangeSet) -> dict[str, dict[str, Any]]:
        """What the changed objects are now: buffered writes first, then the record."""
        keys = touched_keys(changes)
        return {**self._record.objects(keys), **self._buffer.objects(keys)}

    def apply(self, changes: ChangeSet, cause: Cause | None = None) -> None:
        if not changes:
            return
        journal = ChangeJournal(changes, self._before(changes), cause, self._record.clock())
        with self._record.journaling(journal):
            self._apply(changes, journal)

    def _apply(self, changes: ChangeSet, journal: ChangeJournal) -> None:
        upserts = [*changes.create_entities, *changes.update_entities]
        self._buffer.drop(changes.delete_entities)  # a buffered update must not revive one
        if upserts:
            # Written behind: its history entries go with the buffer write that accepts it.
            self._buffer.write(upserts, journal.take([e.key for e in upserts], []))
        # Edges and entity deletes: into the record now, to JupiterOne in the next DIFF
        # (which also uploads the buffered entities, so a new edge's new end is there).
        edges = [*changes.create_relationships, *changes.update_relationships]
        removed = [*changes.delete_relationships, *changes.delete_entities]
        if edges or removed:
            self._diffs.change(edges, removed)

    def flush(self) -> int:
        return self._buffer.flush() + self._diffs.flush()
