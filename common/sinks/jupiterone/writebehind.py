"""Entity creates and updates, written behind.

They are buffered in Redis (the latest write of a key wins) and one flush sends every
worker's buffered writes in one PATCH job per window. Relationships and deletes are not
written here: they go in the scope's next DIFF job (common.sinks.jupiterone.scopediff),
which also carries whatever is still buffered, so an edge never reaches JupiterOne
before the entities it joins.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import redis
from redis.lock import Lock

from common.graph import Entity, fingerprint
from common.sinks.base import ScheduleFlush, SinkError
from common.sinks.history import Entry
from common.sinks.jupiterone.record import JupiterOneRecord
from common.sinks.jupiterone.syncjob import PatchJob
from common.state.keys import text, text_map
from common.state.locks import LEASE_SECONDS, held_locks, lease

log = logging.getLogger(__name__)

PATCH_WINDOW = 0.5  # seconds a PATCH micro-batch (or the write-behind window) stays open
# A lease (common.state.locks), renewed while a PATCH job is polled to FINISHED under it: a
# flush that died frees it within seconds.
FLUSH_LOCK_TIMEOUT = LEASE_SECONDS
FLUSH_LOCK_WAIT = 600  # then the flush job fails and is retried later
DELETED_TTL = 1200  # longer than any flush in flight


def flush_lock(connection: redis.Redis, record: JupiterOneRecord) -> Lock:
    """The scope's flush lock: one DIFF, PATCH flush or full sync of the scope at a time."""
    return lease(
        connection,
        record.key("patch:flush-lock"),
        wait=FLUSH_LOCK_WAIT,
        seconds=FLUSH_LOCK_TIMEOUT,
    )


class WriteBehindBuffer:
    """Buffered entity writes and their flush: one PATCH job for every worker's writes.

    With no `schedule_flush`, `write` flushes at once (written through).
    """

    def __init__(
        self,
        record: JupiterOneRecord,
        patch: PatchJob,
        *,
        window: float = PATCH_WINDOW,
        schedule_flush: ScheduleFlush | None = None,
    ) -> None:
        self.record = record
        self.r = record.r
        self.pending = record.key("patch:pending")
        # entities deleted since the flush in flight took its batch: not to be revived
        self.deleted = record.key("patch:deleted")
        self.patch = patch
        self.window = window
        self.schedule_flush = schedule_flush

    def write(self, entities: Sequence[Entity], history: Sequence[Entry] = ()) -> None:
        """Buffer creates/updates, then flush now or make sure a flush runs in `window`.

        `history`: their change-history entries, added in the transaction that buffers them.
        """
        with self.r.pipeline(transaction=bool(history)) as pipe:
            for entity in entities:
                pipe.hset(self.pending, entity.key, json.dumps(entity.to_j1()))
            self.record.add_history(pipe, history)
            pipe.execute()
        if self.schedule_flush is None:
            self.flush()
        else:
            self.schedule_flush(self.record.key("patch:flush-queued"), self.window)

    def drop(self, keys: Sequence[str]) -> None:
        """Forget buffered writes of deleted entities (they must not come back), also
        those a flush has taken and is sending now."""
        if keys:
            with self.r.pipeline(transaction=True) as pipe:
                pipe.hdel(self.pending, *keys)
                pipe.sadd(self.deleted, *keys)
                pipe.expire(self.deleted, DELETED_TTL)
                pipe.execute()

    def fingerprints(self, keys: Sequence[str] | None) -> dict[str, str]:
        """`_key` → fingerprint of buffered entity writes (of `keys`, or all)."""
        if keys is None:
            raw = text_map(self.r.hgetall(self.pending))
        else:
            values = self.r.hmget(self.pending, list(keys)) if keys else []
            raw = {k: text(v) for k, v in zip(keys, values, strict=True) if v is not None}
        return {k: fingerprint(Entity.from_j1(json.loads(v))) for k, v in raw.items()}

    def objects(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The buffered writes of these keys, as they will reach JupiterOne."""
        if not keys:
            return {}
        values = self.r.hmget(self.pending, list(keys))
        return {k: json.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

    def waiting(self) -> int:
        return int(self.r.hlen(self.pending))

    def flush(self) -> int:
        """Send every buffered create/update in one PATCH job; how many entities it sent.

        On failure they go back to the buffer (unless a newer write of the key is there)
        and the error is raised, so the flush job is retried.
        """
        # One flush at a time: of two flushes in flight, the older could land last.
        with held_locks("JupiterOne flush") as locks:
            if not locks.acquire(flush_lock(self.r, self.record)):
                raise SinkError(f"another JupiterOne flush held its lock for {FLUSH_LOCK_WAIT}s")
            return self._flush()

    def flush_held(self) -> int:
        """`flush` for a caller that holds the flush lock already (a partition DIFF)."""
        return self._flush()

    def _flush(self) -> int:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self.record.key("patch:flush-queued"))  # writes from now: a new flush
            pipe.hgetall(self.pending)
            pipe.delete(self.pending)
            pipe.delete(self.deleted)  # what is deleted from now on, this batch must not revive
            _, taken, _, _ = pipe.execute()
        if not taken:
            return 0
        objects = [json.loads(raw) for raw in taken.values()]
        try:
            self.patch(objects)
        except Exception:
            gone = {text(k) for k in self.r.smembers(self.deleted)}
            with self.r.pipeline(transaction=False) as pipe:
                for key, raw in taken.items():
                    if text(key) not in gone:
                        pipe.hsetnx(self.pending, key, raw)
                pipe.execute()
            raise
        # An entity deleted while its PATCH job ran stays deleted in the record: the DIFF
        # its delete scheduled (after this flush: they share the lock) removes it again.
        gone = {text(k) for k in self.r.smembers(self.deleted)}
        self.record.update([Entity.from_j1(o) for o in objects if o["_key"] not in gone], [])
        return len(objects)
