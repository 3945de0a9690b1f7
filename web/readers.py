"""Where the read endpoints do their work: off the receiver's event loop, one at a time.

A web process is a gevent event loop (web.serve): while one request computes, no other
request of the process moves, so a reader's second of CPU (the report of a 10,000-user
graph) is a second added to every webhook delivery waiting behind it. Every read
endpoint's work — Redis reads, sink queries, JSON encoding — therefore runs on one
operating-system thread per web process (gevent's thread pool), and the views only wait
for it, cooperatively. What that bounds, and the figures (README, *Readers and
the receiver*):
- CPU: at most one reader computation per web process at any time, whatever the number
  of readers; each waits its turn (MAX_WAITING of them, then 503 with Retry-After).
- Redis: each reader's work has its own client, made, used and closed on the thread that
  runs it, with at most READER_REDIS_CONNECTIONS connections; the receiver's never serve
  a reader.
- The report: computed in a process of its own (web.report_process: its C calls would
  hold this process's interpreter lock for tens of milliseconds at a time, a thread
  cannot help there), at most once per REPORT_MAX_AGE per web process and format, then
  served to every reader as the same bytes (its `generated_at` says as of when, `Age`
  how long ago); a reader arriving during the computation waits for that one.
- Output: readers' answers leave at READER_BYTES_PER_SECOND per process at most, so
  serving even cached bytes to any number of readers costs the event loop a bounded share.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import redis
from gevent import Timeout, monkey  # type: ignore[import-untyped]
from gevent.threadpool import ThreadPool  # type: ignore[import-untyped]

from common.config import Settings
from common.sinks import GraphSink, SinkError, make_sink
from common.sinks.history import Query
from common.state.full_sync import NO_FULL_SYNC_YET
from web.report_process import (
    NOT_SYNCED,
    REDIS_DOWN,
    UNREADABLE,
    NoReportYet,
    settings_payload,
)

T = TypeVar("T")

MAX_WAITING = 64  # reader requests of one process waiting for the thread; more: 503
READ_TIMEOUT = 25.0  # s a reader waits for its turn and its work (gunicorn's limit: 30 s)
REPORT_MAX_AGE = 30.0  # s a computed report is served before it is computed again
READER_REDIS_CONNECTIONS = 2  # the reader thread uses one; a spare for a dropped one
READER_SOCKET_TIMEOUT = 5.0  # s; readers are not on PagerDuty's 5 s deadline
MAX_CHANGES_BYTES = 1024 * 1024  # a /changes page's body, at most (then fewer entries)
# Of one core, what the reader thread may use: after work that took t s of its CPU it
# rests t × (1 / share − 1) s before the next (a thread that rests holds no GIL).
READER_CPU_SHARE = 0.05
# While the reader thread runs Python, the event loop waits this long for the interpreter
# lock at each wake-up (CPython's default: 5 ms).
READER_SWITCH_INTERVAL = 0.0005
# What readers get of one web process's output, in bytes a second: a reader's answer
# waits (cooperatively) for its turn, so however many ask, serving them (even cached
# bytes) costs the event loop a bounded share. A 642 KiB report of 10,000 users: ~1.6/s.
# (Halved from 2 MiB/s, with READER_CPU_SHARE from 0.1: delivery p99 under 20 readers went
# from 105-116 ms to 98 ms, beside 82-93 ms without readers; bench/readers.py.)
READER_BYTES_PER_SECOND = 1024 * 1024


class ReadersBusy(Exception):
    """Too many readers wait already, or the wait passed READ_TIMEOUT: try again later."""


@dataclass
class ReaderContext:
    """What reader work may use: the reader thread's own Redis client and sink."""

    settings: Settings
    connection: redis.Redis
    sink: GraphSink


@dataclass(frozen=True)
class CachedReport:
    body: bytes
    computed_at: float  # time.monotonic()


class Readers:
    """One web process's reader thread, its Redis client and sink, and the report cache."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: ThreadPool | ThreadPoolExecutor | None = None
        self._waiting = 0
        self._lock = threading.Lock()
        self._reports: dict[str, CachedReport] = {}
        self._report_lock = threading.Lock()  # gevent's in the web process: cooperative
        self._rest_until = 0.0  # monotonic: the reader thread's next work starts then
        self._output_free_at = 0.0  # monotonic: when the readers' output budget is free

    def run(self, work: Callable[[ReaderContext], T]) -> T:
        """`work(context)` on the reader thread, after the work queued before it; the
        calling greenlet (or thread, outside gevent) waits without holding the loop."""
        with self._lock:
            if self._waiting >= MAX_WAITING:
                raise ReadersBusy(f"{MAX_WAITING} reads are waiting already")
            self._waiting += 1
            pool = self._pool = self._pool or _thread_pool()
        try:
            if isinstance(pool, ThreadPool):
                result: T = pool.spawn(self._in_thread, work).get(timeout=READ_TIMEOUT)
                return result
            return pool.submit(self._in_thread, work).result(timeout=READ_TIMEOUT)
        except (TimeoutError, Timeout) as exc:  # concurrent.futures', gevent's
            raise ReadersBusy(f"no answer within {READ_TIMEOUT:.0f} s") from exc
        finally:
            with self._lock:
                self._waiting -= 1

    def _in_thread(self, work: Callable[[ReaderContext], T]) -> T:
        time.sleep(max(0.0, self._rest_until - time.monotonic()))
        used = time.thread_time()
        try:
            return self._work(work)
        finally:
            used = time.thread_time() - used
            self._rest_until = time.monotonic() + used * (1 / READER_CPU_SHARE - 1)

    def _work(self, work: Callable[[ReaderContext], T]) -> T:
        """`work` with a Redis client and sink of its own, made, used and closed on the
        thread that runs it: gevent's pool runs a task on a thread of its choosing (seen: a
        new one for each), and a client made on one thread fails on another (greenlet's
        "Cannot switch to a different thread": every other /status answered 500)."""
        connection = redis.Redis.from_url(
            self.settings.redis_url,
            socket_connect_timeout=READER_SOCKET_TIMEOUT,
            socket_timeout=READER_SOCKET_TIMEOUT,
            max_connections=READER_REDIS_CONNECTIONS,
        )
        try:
            sink = make_sink(self.settings, connection)
            try:
                return work(ReaderContext(self.settings, connection, sink))
            finally:
                sink.close()
        finally:
            connection.close()

    def pace(self, size: int) -> None:
        """Wait until an answer of `size` bytes fits READER_BYTES_PER_SECOND, in the
        order readers asked; ReadersBusy if that is past READ_TIMEOUT."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._output_free_at)
            if start - now > READ_TIMEOUT:
                raise ReadersBusy("the readers' share of this process is taken")
            self._output_free_at = start + size / READER_BYTES_PER_SECOND
        time.sleep(start - now)  # gevent's sleep in the web process: the loop runs on

    # -- the report: one computation shared by every reader for REPORT_MAX_AGE ----------

    def report(self, fmt: str, period_days: int | None = None) -> CachedReport:
        """The report as `fmt` ("json" or "html"), with the last `period_days` days'
        evidence when given, at most REPORT_MAX_AGE old, computed by web.report_process:
        one at a time per web process, and one for all readers of the same report."""
        wanted = fmt if period_days is None else f"{fmt}:{period_days}"
        cached = self._fresh_report(wanted)
        if cached is not None:  # the common case: nothing to compute, nothing to wait for
            return cached
        if not self._report_lock.acquire(timeout=READ_TIMEOUT):
            raise ReadersBusy(f"no report within {READ_TIMEOUT:.0f} s")
        try:
            cached = self._fresh_report(wanted)  # computed while this reader waited
            if cached is None:
                cached = CachedReport(self._computed_report(wanted), time.monotonic())
                self._reports[wanted] = cached
            return cached
        finally:
            self._report_lock.release()

    def _fresh_report(self, wanted: str) -> CachedReport | None:
        cached = self._reports.get(wanted)
        if cached is not None and time.monotonic() - cached.computed_at < REPORT_MAX_AGE:
            return cached
        return None

    def _computed_report(self, wanted: str) -> bytes:
        """`wanted`: the format, and `:DAYS` for a period (the report process's arguments)."""
        arguments = wanted.split(":")  # "json" or "html", then the period's days if any
        # gevent's subprocess in the web process: the loop runs while the child computes.
        try:
            done = subprocess.run(  # noqa: S603  (a format and a number of days)
                [sys.executable, "-m", "web.report_process", *arguments],
                input=settings_payload(self.settings).encode(),
                capture_output=True,
                timeout=READ_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ReadersBusy(f"no report within {READ_TIMEOUT:.0f} s") from exc
        if done.returncode == 0:
            return done.stdout
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        if done.returncode == REDIS_DOWN:
            raise redis.ConnectionError("Redis does not answer")
        if done.returncode == NOT_SYNCED:
            raise NoReportYet(reason[-1] if reason else NO_FULL_SYNC_YET)
        if done.returncode == UNREADABLE and reason:
            raise SinkError(reason[-1].removeprefix("the graph cannot be read: "))
        raise SinkError(f"the report process exited with status {done.returncode}")


def changes_page(context: ReaderContext, query: Query, cursor: str | None, limit: int) -> bytes:
    """A /changes page as JSON: at most `limit` entries and MAX_CHANGES_BYTES (at least
    one entry): a page past the bytes is asked again for the entries that fit, so that
    its next_cursor follows the last entry it holds."""
    page, next_cursor = context.sink.changes(query, cursor=cursor, limit=limit)
    encoded = [json.dumps(entry, separators=(",", ":")) for entry in page]
    fitting, size = 0, 0
    for text in encoded:
        size += len(text.encode()) + 1
        if size > MAX_CHANGES_BYTES and fitting > 0:
            break
        fitting += 1
    if fitting < len(page):
        page, next_cursor = context.sink.changes(query, cursor=cursor, limit=fitting)
        encoded = encoded[:fitting]
    cursor_json = json.dumps(next_cursor)
    return f'{{"changes":[{",".join(encoded)}],"next_cursor":{cursor_json}}}'.encode()


def _thread_pool() -> ThreadPool | ThreadPoolExecutor:
    """One real thread: gevent's pool in a gevent-patched process (a patched
    ThreadPoolExecutor would run its work on the event loop), else the standard one."""
    if monkey.is_module_patched("threading"):
        sys.setswitchinterval(READER_SWITCH_INTERVAL)
        return ThreadPool(1)
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdgraph-reader")
