"""Entity creates and updates: written behind, or through a PATCH job writers share.

Most webhook changes are entity updates nothing else waits for: they are buffered in Redis
(the latest write of a key wins) and one flush sends every worker's buffered writes in one
PATCH job per window. An entity a new edge points at must exist in JupiterOne before the
edge is created: it goes through a PATCH job now, shared by every writer within
`patch_window` seconds (a Redis-coordinated micro-batch).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any, cast

from common.graph import Entity, fingerprint
from common.keys import text, text_map
from common.locks import held_locks
from common.sinks import ScheduleFlush, SinkError
from common.sinks.jupiterone.record import JupiterOneRecord
from common.sinks.jupiterone.syncjob import PatchJob

log = logging.getLogger(__name__)

PATCH_WINDOW = 0.5  # seconds a PATCH micro-batch (or the write-behind window) stays open
PATCH_WAIT = 120.0  # how long a worker waits for another's PATCH job before doing its own
FLUSH_LOCK_TIMEOUT = 600  # renewed while a PATCH job is polled to FINISHED under it
FLUSH_LOCK_WAIT = 600  # then the flush job fails and is retried later

# Join the open batch: only while its marker still names it (the leader has not closed it).
_JOIN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
"""
# Close the batch and take its items in one step: no writer joins after the take.
_CLOSE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local items = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
return items
"""


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
        self.patch = patch
        self.window = window
        self.schedule_flush = schedule_flush

    def write(self, entities: Sequence[Entity]) -> None:
        """Buffer creates/updates, then flush now or make sure a flush runs in `window`."""
        with self.r.pipeline(transaction=False) as pipe:
            for entity in entities:
                pipe.hset(self.pending, entity.key, json.dumps(entity.to_j1()))
            pipe.execute()
        if self.schedule_flush is None:
            self.flush()
        else:
            self.schedule_flush(self.record.key("patch:flush-queued"), self.window)

    def drop(self, keys: Sequence[str]) -> None:
        """Forget buffered writes of deleted entities (they must not come back)."""
        if keys:
            self.r.hdel(self.pending, *keys)

    def fingerprints(self, keys: Sequence[str] | None) -> dict[str, str]:
        """`_key` → fingerprint of buffered entity writes (of `keys`, or all)."""
        if keys is None:
            raw = text_map(self.r.hgetall(self.pending))
        else:
            values = self.r.hmget(self.pending, list(keys)) if keys else []
            raw = {k: text(v) for k, v in zip(keys, values, strict=True) if v is not None}
        return {k: fingerprint(Entity.from_j1(json.loads(v))) for k, v in raw.items()}

    def waiting(self) -> int:
        return int(self.r.hlen(self.pending))

    def flush(self) -> int:
        """Send every buffered create/update in one PATCH job; how many entities it sent.

        On failure they go back to the buffer (unless a newer write of the key is there)
        and the error is raised, so the flush job is retried.
        """
        # One flush at a time: of two flushes in flight, the older could land last.
        lock = self.r.lock(
            self.record.key("patch:flush-lock"),
            timeout=FLUSH_LOCK_TIMEOUT,
            blocking_timeout=FLUSH_LOCK_WAIT,
            thread_local=False,
        )
        with held_locks("JupiterOne flush") as locks:
            if not locks.acquire(lock):
                raise SinkError(f"another JupiterOne flush held its lock for {FLUSH_LOCK_WAIT}s")
            return self._flush()

    def _flush(self) -> int:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self.record.key("patch:flush-queued"))  # writes from now: a new flush
            pipe.hgetall(self.pending)
            pipe.delete(self.pending)
            _, taken, _ = pipe.execute()
        if not taken:
            return 0
        objects = [json.loads(raw) for raw in taken.values()]
        try:
            self.patch(objects)
        except Exception:
            with self.r.pipeline(transaction=False) as pipe:
                for key, raw in taken.items():
                    pipe.hsetnx(self.pending, key, raw)
                pipe.execute()
            raise
        self.record.update([Entity.from_j1(o) for o in objects], [])
        return len(objects)


class SharedPatchJobs:
    """Entities written now through a PATCH job shared by writers within `window` s."""

    def __init__(
        self, record: JupiterOneRecord, patch: PatchJob, *, window: float, wait: float
    ) -> None:
        self.record, self.r, self.patch = record, record.r, patch
        self.window, self.wait = window, wait
        self._join = self.r.register_script(_JOIN)
        self._close = self.r.register_script(_CLOSE)

    def write(self, entities: Sequence[Entity]) -> None:
        """Create or update `entities` in JupiterOne (and the record) before returning."""
        payload = json.dumps([e.to_j1() for e in entities])
        open_key = self.record.key("patch:open")
        window_ms = max(1, int(self.window * 1000))
        while True:
            batch = self.r.get(open_key)
            if batch is not None:
                batch_id = text(batch)
                items = self.record.key(f"patch:{batch_id}")
                if self._join(keys=[open_key, items], args=[batch_id, payload, 60_000]):
                    if not self._wait_for_batch(batch_id):
                        log.warning("shared PATCH job did not report; writing alone")
                        self.patch([e.to_j1() for e in entities])
                    break
                continue
            batch_id = uuid.uuid4().hex
            # The open marker outlives the window: it goes when the leader closes the batch.
            if self.r.set(open_key, batch_id, nx=True, px=window_ms * 4 + 5000):
                self._lead_batch(batch_id, payload)
                break
        self.record.update(entities, [])

    def _lead_batch(self, batch_id: str, payload: str) -> None:
        items_key = self.record.key(f"patch:{batch_id}")
        self.r.rpush(items_key, payload)
        time.sleep(self.window)
        raw_items = self._close(keys=[self.record.key("patch:open"), items_key], args=[batch_id])
        merged: dict[str, dict[str, Any]] = {}
        for raw in cast(list[bytes], raw_items):
            for obj in json.loads(raw):
                merged[obj["_key"]] = obj  # later payloads carry later reads
        result_key = self.record.key(f"patch:{batch_id}:result")
        try:
            self.patch(list(merged.values()))
        except Exception as exc:
            self.r.set(result_key, f"failed: {exc}", ex=300)
            raise
        self.r.set(result_key, "ok", ex=300)
        if len(raw_items) > 1:
            log.info("PATCH job shared", extra={"writers": len(raw_items), "entities": len(merged)})

    def _wait_for_batch(self, batch_id: str) -> bool:
        """True when the leader's job finished; SinkError when it failed; False on silence."""
        result_key = self.record.key(f"patch:{batch_id}:result")
        deadline = time.monotonic() + self.window + self.wait
        while time.monotonic() < deadline:
            result = self.r.get(result_key)
            if result is not None:
                answer = text(result)
                if answer == "ok":
                    return True
                raise SinkError(f"JupiterOne PATCH job for this change {answer}")
            time.sleep(0.05)
        return False
