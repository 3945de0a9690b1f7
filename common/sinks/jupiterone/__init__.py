"""The JupiterOne sink: DIFF sync jobs for the full sync, PATCH jobs + GraphQL for changes.

What pdgraph wrote is kept in Redis (record.py); diffs run against it and only a change
reaches JupiterOne.

- `replace_all`: one DIFF job in the scope (syncjob.py); the record moves only once
  JupiterOne finished it.
- `apply`: entity creates/updates are written behind, one PATCH job per window
  (writebehind.py), except entities a new edge needs, which go through a PATCH job shared
  with other writers now; entity deletes and relationship creates/deletes are GraphQL
  mutations (mutations.py plans them, graphql.py sends them).
- `check`: credentials.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

import redis

from common.graph import ChangeSet, Graph, GraphIndex, diff
from common.jupiterone import JupiterOneClient
from common.sinks import ScheduleFlush
from common.sinks.jupiterone.credentials import check_credentials
from common.sinks.jupiterone.graphql import GraphQLWriter
from common.sinks.jupiterone.record import JupiterOneRecord
from common.sinks.jupiterone.syncjob import run_diff_job, run_patch_job
from common.sinks.jupiterone.writebehind import (
    PATCH_WAIT,
    PATCH_WINDOW,
    SharedPatchJobs,
    WriteBehindBuffer,
)

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
        patch_wait: float = PATCH_WAIT,
        schedule_flush: ScheduleFlush | None = None,
    ) -> None:
        self.client = client
        self.scope = scope
        self._record = JupiterOneRecord(connection, client.account_id, scope)
        patch = partial(run_patch_job, client, scope)
        self._buffer = WriteBehindBuffer(
            self._record, patch, window=patch_window, schedule_flush=schedule_flush
        )
        self._shared = SharedPatchJobs(self._record, patch, window=patch_window, wait=patch_wait)
        self._graphql = GraphQLWriter(client, self._record, scope)

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

    def waiting_writes(self) -> int:
        return self._buffer.waiting()

    def check(self) -> None:
        check_credentials(self.client, self.scope)

    def close(self) -> None:
        self.client.close()

    # -- writing ------------------------------------------------------------------------

    def replace_all(self, graph: Graph) -> None:
        job_id = run_diff_job(self.client, self.scope, graph)
        changes = diff(self._record.index(), graph)
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

    def apply(self, changes: ChangeSet) -> None:
        if not changes:
            return
        # An entity created here that a new edge points at must exist (have an _id)
        # before the edge is created: it goes through a PATCH job now. Every other create
        # or update is written behind.
        ends = {k for r in changes.create_relationships for k in (r.from_key, r.to_key)}
        now = [e for e in changes.create_entities if e.key in ends]
        later = [e for e in [*changes.create_entities, *changes.update_entities] if e not in now]
        self._buffer.drop(changes.delete_entities)  # a buffered update must not revive one
        if later:
            self._buffer.write(later)
        if now:
            self._shared.write(now)
        # No relationship update exists in the API: an edge whose properties changed is
        # deleted and created again (GraphQL runs mutations of one request in order).
        updated = changes.update_relationships
        removed = [*changes.delete_relationships, *(r.key for r in updated)]
        created = [*updated, *changes.create_relationships]
        if removed or created or changes.delete_entities:
            self._graphql.mutate(removed, created, changes.delete_entities)

    def flush(self) -> int:
        return self._buffer.flush()
