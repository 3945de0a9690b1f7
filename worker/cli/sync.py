"""`pdgraph sync`: the full sync in this process, with progress on a terminal."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TextIO

import click
import redis

from common import metrics
from common.clients.pagerduty import PagerDutyError
from common.config import ConfigError, Settings
from common.graph import ChangeSet
from common.objects import ENTITY_TYPES, LISTINGS, type_of_key
from common.sinks import SinkError, SinkPartlyWritten
from common.state.connection import connect
from worker.cli.base import EXIT_CONFIG, EXIT_FAILED, fail, settings_for_command
from worker.full_sync import (
    FullSyncAborted,
    FullSyncAlreadyRunning,
    FullSyncRun,
    run_full_sync,
)

log = logging.getLogger(__name__)


def _place(listing: str) -> int:
    return LISTINGS.index(listing) if listing in LISTINGS else len(LISTINGS)


class ProgressBar:
    """The listings read so far, redrawn on one terminal line:
    `read  users 5,800/10,600 · teams 1,060/1,060 · services 300/300`.

    Users and services are read at the same time, so one line holds every listing. The
    full sync's last report of a listing is what it read: the bar ends on the summary's
    counts. Without a stream (not a terminal) it draws nothing.
    """

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self._listings: dict[str, tuple[int, int]] = {}
        self._drawn = 0
        self._lock = threading.Lock()  # the two listing threads report at once

    def __call__(self, listing: str, fetched: int, total: int) -> None:
        if self.stream is None:
            return
        with self._lock:
            self._listings[listing] = (fetched, total)
            line = self.line()
            self.stream.write("\r" + line.ljust(self._drawn))  # blank what a longer line left
            self.stream.flush()
            self._drawn = len(line)

    def line(self) -> str:
        """Listings in the summary's order (users and services start in either order)."""
        ordered = sorted(self._listings.items(), key=lambda item: _place(item[0]))
        return "read  " + " · ".join(f"{name} {n:,}/{total:,}" for name, (n, total) in ordered)

    def finish(self) -> None:
        if self.stream is not None and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0


def plan_lines(changes: ChangeSet) -> list[str]:
    """The dry run's `+`/`~`/`-` lines: entities, then relationships, each sorted by key."""

    def order(line: str) -> tuple[bool, str]:
        key = line[2:]
        return type_of_key(key) not in ENTITY_TYPES, key

    return sorted(changes.lines(), key=order)


def summary_line(run: FullSyncRun, dry_run: bool) -> str:
    read = ", ".join(f"{n:,} {name}" for name, n in run.read.items())
    c = run.changes
    return (
        f"{'dry run' if dry_run else 'sync ok'}: read {read}; "
        f"entities +{c['entities_created']} ~{c['entities_updated']} -{c['entities_deleted']}, "
        f"relationships +{c['relationships_created']} ~{c['relationships_updated']} "
        f"-{c['relationships_deleted']}"
        f"{' (would be)' if dry_run else ''}; "
        f"{run.pagerduty_requests} PagerDuty requests in {run.duration_s:.1f}s"
    )


# What the operator reads for each way a sync fails (the first match wins), and the exit.
_NOT_CHANGED = "sync failed, nothing was changed: "
_FAILURES: tuple[tuple[tuple[type[Exception], ...], str, int], ...] = (
    ((ConfigError,), "configuration error: ", EXIT_CONFIG),
    ((FullSyncAborted,), "sync aborted: ", EXIT_FAILED),
    ((FullSyncAlreadyRunning,), "", EXIT_FAILED),
    ((SinkPartlyWritten,), "sync failed: ", EXIT_FAILED),  # it says what may have changed
    (
        (redis.ConnectionError, redis.TimeoutError),
        _NOT_CHANGED + "REDIS_URL does not answer: ",
        EXIT_FAILED,
    ),
    ((PagerDutyError, SinkError, redis.RedisError), _NOT_CHANGED, EXIT_FAILED),
)


def failure_message(exc: Exception) -> tuple[str, int]:
    """The one line and the exit status for a sync that raised."""
    for kinds, prefix, code in _FAILURES:
        if isinstance(exc, kinds):
            return f"{prefix}{exc}", code
    # A bug: one line here, the traceback in the log.
    log.error("full sync crashed", exc_info=exc)
    return f"sync failed with an unexpected error, nothing was changed: {exc!r}", EXIT_FAILED


def _run(
    settings: Settings, dry_run: bool, allow_mass_delete: bool, progress: ProgressBar
) -> tuple[FullSyncRun, ChangeSet]:
    try:
        settings.require_pagerduty_key()
        connection = connect(settings.redis_url)
        metrics.recorder.bind(connection)  # its requests count in /metrics too (flushed at exit)
        result = run_full_sync(
            settings,
            redis_client=connection,
            dry_run=dry_run,
            allow_mass_delete=allow_mass_delete,
            progress=progress,
        )
    except Exception as exc:
        progress.finish()  # the failure's line goes below the bar, not onto it
        fail(*failure_message(exc))
    progress.finish()
    return result


@click.command()
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the changes it would make, one +/~/- line per key (entities, then "
    "relationships, each sorted by key), and the counts; write nothing. Exit 0 once the "
    "plan is computed, even when the mass-delete guard would stop the real run (it says so).",
)
@click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="Apply even if more than half of the graph, or of one type of object (users, "
    "teams, services, one kind of relationship), would be deleted.",
)
def sync(dry_run: bool, allow_mass_delete: bool) -> None:
    """Run a full sync now, in this process; one summary line.

    Exit 0 done (or a dry run's plan shown), 1 failed or aborted (nothing written),
    2 configuration (PAGERDUTY_API_KEY missing, a malformed variable).
    """
    settings = settings_for_command()
    progress = ProgressBar(sys.stderr if sys.stderr.isatty() else None)
    run, changes = _run(settings, dry_run, allow_mass_delete, progress)
    if dry_run:
        for line in plan_lines(changes):
            click.echo(line)
    click.echo(summary_line(run, dry_run))
    if dry_run and run.outcome == "aborted":
        click.echo(f"the real run would be stopped by the mass-delete guard: {run.error}")
