"""Redis locks held across long waits: short leases, renewed while their holder works.

A lock's expiry is there for a holder that dies, not for one that waits: a call waiting
out 429s (up to RetryPolicy.rate_limit_max_wait, 600 s) must not lose its lock to another
writer. So a held lock is a lease of LEASE_SECONDS, extended back to its full length every
third of it from a thread of the holder: a live holder keeps it however long it works; a
killed, stopped or cut-off one (its release failed with Redis away) loses it within one
lease, not minutes later. Only the owner's token releases or renews it (redis-py's Lock).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock

log = logging.getLogger(__name__)

# How long a lock outlives a holder that stopped renewing it (renewed every third of it).
LEASE_SECONDS = 15


def lease(
    connection: redis.Redis, name: str, *, wait: float | None = None, seconds: float | None = None
) -> Lock:
    """A lock on `name` for HeldLocks: a lease of `seconds` (LEASE_SECONDS), renewed by its
    holder's thread; `wait`: how long acquire() blocks for it (None: until free)."""
    timeout = seconds or LEASE_SECONDS
    lock: Lock = connection.lock(name, timeout=timeout, blocking_timeout=wait, thread_local=False)
    return lock


class HeldLocks:
    """Locks taken one by one (`acquire`) and renewed together until `release`."""

    def __init__(self, what: str) -> None:
        self.what = what  # names the locks in log lines: "write", "full-sync", ...
        self._held: list[Lock] = []
        self._renewed: list[Lock] = []
        self._done = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self, lock: Lock, *, blocking: bool = True) -> bool:
        """Take `lock` (made with thread_local=False: another thread renews it) and keep it
        until `release`; False when it was not free (within its blocking_timeout)."""
        if lock.timeout is None or lock.thread_local:
            raise ValueError("a renewed lock needs a timeout and thread_local=False")
        if not lock.acquire(blocking=blocking):
            return False
        self._held.append(lock)
        self._renewed.append(lock)
        if self._renewer is None:
            self._renewer = threading.Thread(target=self._renew, daemon=True)
            self._renewer.start()
        return True

    def _renew(self) -> None:
        while not self._done.wait(min(float(lock.timeout or 0) for lock in self._held) / 3):
            for lock in list(self._renewed):
                try:
                    lock.reacquire()
                except LockNotOwnedError:  # expired and maybe taken: no use renewing it
                    self._renewed.remove(lock)
                    log.warning(f"the {self.what} lock was lost", extra={"lock": lock.name})
                except (redis.RedisError, LockError):  # Redis away: try at the next turn
                    log.warning(f"could not renew the {self.what} lock", extra={"lock": lock.name})

    def release(self) -> None:
        """Stop renewing and release every lock held, last taken first."""
        self._done.set()
        if self._renewer is not None:
            self._renewer.join()
        for lock in reversed(self._held):
            try:
                lock.release()
            except (redis.RedisError, LockError):
                log.warning(
                    f"the {self.what} lock had expired before its holder finished",
                    extra={"lock": lock.name},
                )
        self._held.clear()


@contextmanager
def held_locks(what: str) -> Iterator[HeldLocks]:
    """Locks acquired through the yielded HeldLocks are renewed until the block ends,
    then released (a lost lock is logged, not raised: the holder's work is done)."""
    held = HeldLocks(what)
    try:
        yield held
    finally:
        held.release()
