"""Read ordering: of two writes about one service, the one that read PagerDuty later wins.

Every refresh numbers its read before it reads (`begin_reads`); `write_latest` writes only
if no later read of the service was written already. Two sequences per service:
`written-seq` (the whole service: entity, ASSIGNED and ONCALL edges) and `oncall-seq` (its
ONCALL edges, which on-call refreshes write too). Out-of-order and duplicate deliveries
therefore converge to PagerDuty's current state (SPEC §6).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import redis

from common.graph import ChangeSet
from common.state import keys
from common.state.full_sync import mark_touched_during_sync, sync_window_is_open
from common.state.locks import HeldLocks, held_locks, lease
from worker.coalescing import request_service_refresh

log = logging.getLogger(__name__)

# A service's write lock is a lease (common.state.locks: 15 s, renewed while held), so a holder
# that died, or whose release failed with Redis away, frees it within seconds. A job that
# finds it taken waits this long, then is deferred (worker.jobs), the worker free meanwhile.
WRITE_LOCK_WAIT = 2.0
SEQUENCE_TTL = 86400


class ServiceBusy(Exception):
    """Another job holds a service's write lock: this one is deferred, not kept waiting."""


# KEYS: sequence keys; ARGV[1]: TTL (s), ARGV[1 + n]: the read sequence for KEYS[n].
# Each is set only if greater than what it holds: a late writer never moves one back.
_SET_IF_GREATER = """
for n, key in ipairs(KEYS) do
  local seq = tonumber(ARGV[n + 1])
  if tonumber(redis.call('GET', key) or '0') < seq then
    redis.call('SET', key, seq, 'EX', ARGV[1])
  end
end
"""


def begin_reads(connection: redis.Redis, service_ids: Sequence[str]) -> dict[str, int]:
    """Number the reads about to happen (service id → read sequence), before reading."""
    with connection.pipeline() as pipe:
        for service_id in service_ids:
            pipe.incr(keys.service_refresh(service_id, "read-seq"))
            pipe.expire(keys.service_refresh(service_id, "read-seq"), SEQUENCE_TTL)
        replies = pipe.execute()
    return {sid: int(replies[2 * n]) for n, sid in enumerate(service_ids)}


def write_latest(
    connection: redis.Redis,
    reads: Mapping[str, int],
    window_at_read: bool,
    write: Callable[[dict[str, bool]], ChangeSet],
    *,
    oncall_only: bool,
) -> tuple[list[str], ChangeSet]:
    """Write what `reads` (service id → read sequence) found, unless a later read of a
    service was written already; returns the services written and what changed.

    `write` gets service id → True when a later read wrote the service's ONCALL edges
    (keep them). The services' locks are taken in sorted order (no deadlock), cover only
    check-and-write and are renewed while held: a write waiting on 429s keeps them, a
    killed worker blocks nothing for long. Raises ServiceBusy, having written nothing,
    when a service stays locked past WRITE_LOCK_WAIT. One `write` for all: one sink write for a
    whole hand-off. `window_at_read`: a full sync was running when
    these reads began (its write may predate them: read again once it is done).
    """
    services = sorted(reads)
    with held_locks("write") as locks:
        _lock_services(connection, locks, services)
        keep = _not_superseded(connection, services, reads, oncall_only)
        if not keep:
            return [], ChangeSet()
        changes = write(keep)
        _record_written(connection, keep, reads, oncall_only)
    for service_id in keep:
        if sync_window_is_open(connection):
            mark_touched_during_sync(connection, service_id)
        elif window_at_read:  # a full sync wrote after we read: read again
            request_service_refresh(connection, service_id)
    return list(keep), changes


def _lock_services(connection: redis.Redis, locks: HeldLocks, services: Sequence[str]) -> None:
    for service_id in services:
        lock = lease(
            connection, keys.service_refresh(service_id, "write-lock"), wait=WRITE_LOCK_WAIT
        )
        if not locks.acquire(lock):
            raise ServiceBusy(f"service {service_id} is being written by another job")


def _not_superseded(
    connection: redis.Redis, services: Sequence[str], reads: Mapping[str, int], oncall_only: bool
) -> dict[str, bool]:
    """Service id → whether a later read wrote its ONCALL edges, for the services whose
    read is still the latest written (the others are left out)."""
    names = [
        keys.service_refresh(sid, seq) for sid in services for seq in ("written-seq", "oncall-seq")
    ]
    seqs = [int(v or 0) for v in connection.mget(names)]
    keep: dict[str, bool] = {}
    for n, service_id in enumerate(services):
        whole_seq, oncall_seq, read_seq = seqs[2 * n], seqs[2 * n + 1], reads[service_id]
        if whole_seq > read_seq or (oncall_only and oncall_seq > read_seq):
            log.info("refresh superseded by a later read", extra={"service_id": service_id})
            continue
        keep[service_id] = oncall_seq > read_seq
    return keep


def _record_written(
    connection: redis.Redis, keep: Mapping[str, bool], reads: Mapping[str, int], oncall_only: bool
) -> None:
    names: list[str] = []
    seqs: list[int] = []
    for service_id, newer_oncall in keep.items():
        for seq, write in (("written-seq", not oncall_only), ("oncall-seq", not newer_oncall)):
            if write:
                names.append(keys.service_refresh(service_id, seq))
                seqs.append(reads[service_id])
    if names:
        connection.register_script(_SET_IF_GREATER)(keys=names, args=[SEQUENCE_TTL, *seqs])
