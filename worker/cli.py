"""`pdgraph`: the operator's command line (SPEC §3).

Exit codes: 0 success, 1 the operation failed (its reason on stderr), 2 bad configuration
or usage. Logs go to stderr here so that stdout carries only the command's output.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, NoReturn

import click
import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from common import metrics
from common.config import ConfigError, Settings, load_settings
from common.logs import configure_logging
from common.pagerduty import PagerDutyError, client_from_settings
from common.queueing import QUEUES
from common.sinks import SinkError, make_sink
from common.state import connect
from worker.full_sync import FullSyncAborted, FullSyncAlreadyRunning, run_full_sync

EXIT_FAILED = 1
EXIT_CONFIG = 2


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"pdgraph: {message}", err=True)
    sys.exit(code)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(f"configuration error: {exc}", EXIT_CONFIG)
    configure_logging(settings.log_level, settings.secret_values(), stream=sys.stderr)
    return settings


class ProgressBar:
    """One line per listing on a TTY: `users     [#######-----]  7,000/10,000`."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._current: str | None = None

    def __call__(self, listing: str, fetched: int, total: int) -> None:
        if not self.enabled:
            return
        if self._current not in (None, listing):
            sys.stderr.write("\n")
        self._current = listing
        width = 30
        done = width * fetched // total if total else width
        bar = "#" * done + "-" * (width - done)
        sys.stderr.write(f"\r{listing:<9} [{bar}] {fetched:>7,}/{total:,}")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self._current is not None:
            sys.stderr.write("\n")


@click.group()
def cli() -> None:
    """Keep a JupiterOne graph of a PagerDuty account live."""


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print the changes it would make; write nothing.")
@click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="Apply even if more than half of the graph would be deleted.",
)
def sync(dry_run: bool, allow_mass_delete: bool) -> None:
    """Run a full sync now, in this process."""
    settings = _settings()
    progress = ProgressBar(sys.stderr.isatty())
    try:
        settings.require_pagerduty_key()
        connection = connect(settings.redis_url)
        metrics.recorder.bind(connection)  # its requests count in /metrics too (flushed at exit)
        run, changes = run_full_sync(
            settings,
            redis_client=connection,
            dry_run=dry_run,
            allow_mass_delete=allow_mass_delete,
            progress=progress,
        )
    except ConfigError as exc:
        _fail(f"configuration error: {exc}", EXIT_CONFIG)
    except FullSyncAborted as exc:
        progress.finish()
        _fail(f"sync aborted: {exc}")
    except FullSyncAlreadyRunning as exc:
        _fail(str(exc))
    except (PagerDutyError, SinkError, redis.RedisError) as exc:
        progress.finish()
        _fail(f"sync failed, nothing was changed: {exc}")
    except Exception as exc:  # a bug: say so in one line, the log has the traceback
        progress.finish()
        logging.getLogger(__name__).exception("full sync crashed")
        _fail(f"sync failed with an unexpected error, nothing was changed: {exc!r}")
    progress.finish()
    if dry_run:
        for line in changes.lines():
            click.echo(line)
    read = ", ".join(f"{n:,} {name}" for name, n in run.read.items())
    c = run.changes
    click.echo(
        f"{'dry run' if dry_run else 'sync ok'}: read {read}; "
        f"entities +{c['entities_created']} ~{c['entities_updated']} -{c['entities_deleted']}, "
        f"relationships +{c['relationships_created']} ~{c['relationships_updated']} "
        f"-{c['relationships_deleted']}"
        f"{' (would be)' if dry_run else ''}; "
        f"{run.pagerduty_requests} PagerDuty requests in {run.duration_s:.1f}s"
    )


@cli.command()
def export() -> None:
    """Print the sink's graph as JSON (the JupiterOne bulk-upload shape)."""
    settings = _settings()
    try:
        sink = make_sink(settings)
        graph = sink.read_graph()
    except ConfigError as exc:
        _fail(f"configuration error: {exc}", EXIT_CONFIG)
    except SinkError as exc:
        _fail(str(exc))
    json.dump(graph.to_j1(), sys.stdout, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")


@cli.command()
def check() -> None:
    """Validate the PagerDuty key, Redis and the sink; one line per result."""
    settings = _settings()
    failures = 0

    def report(what: str, error: str | None, detail: str = "") -> None:
        nonlocal failures
        if error is None:
            click.echo(f"ok    {what}{': ' + detail if detail else ''}")
        else:
            failures += 1
            click.echo(f"FAIL  {what}: {error}", err=True)

    redis_client: redis.Redis | None = connect(settings.redis_url)
    try:
        assert redis_client is not None
        redis_client.ping()
        report("Redis", None, "answers")
    except redis.RedisError as exc:
        redis_client = None
        report("Redis", f"REDIS_URL does not answer ({type(exc).__name__})")

    try:
        client = client_from_settings(settings, redis_client)
        abilities = client.abilities()
        report("PagerDuty", None, f"key accepted at {settings.pagerduty_api_url}")
        if "teams" not in abilities:
            click.echo("note  PagerDuty account has no Teams feature: no team entities")
    except (ConfigError, PagerDutyError) as exc:
        report("PagerDuty", str(exc))

    try:
        sink = make_sink(settings, redis_client)
        sink.check()
        detail: Any = (
            settings.local_graph_path
            if settings.graph_sink == "local"
            else f"scope {settings.jupiterone_scope!r} at {settings.jupiterone_api_url}"
        )
        report(f"sink ({settings.graph_sink})", None, str(detail))
    except (ConfigError, SinkError) as exc:
        report(f"sink ({settings.graph_sink})", str(exc))
    if failures:
        sys.exit(EXIT_FAILED)


# What the worker acts on (SPEC §6): service changes, and incident events that move who is
# paged (on-call matters then). Other incident.* types are accepted but need no delivery.
SUBSCRIBED_EVENTS = (
    "service.created",
    "service.updated",
    "service.deleted",
    "service.custom_field_values.updated",
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.escalated",
    "incident.reassigned",
    "incident.delegated",
    "incident.reopened",
    "incident.resolved",
    "incident.responder.added",
    "incident.service_updated",
)


@cli.group()
def webhooks() -> None:
    """PagerDuty webhook subscriptions."""


@webhooks.command()
@click.option("--url", required=True, help="Public https URL of /webhooks/pagerduty.")
def subscribe(url: str) -> None:
    """Create the account-wide v3 subscription and print its signing secret (once)."""
    if not url.startswith("https://"):
        _fail("--url must be an https:// URL (PagerDuty delivers to HTTPS only)", EXIT_CONFIG)
    settings = _settings()
    try:
        client = client_from_settings(settings, None)
        existing = [
            sub
            for sub in client.webhook_subscriptions()
            if (sub.get("delivery_method") or {}).get("url") == url
        ]
        if existing:
            _fail(
                f"a subscription for {url} already exists ({existing[0]['id']}); not creating"
                " another"
            )
        created = client.create_webhook_subscription(
            url, SUBSCRIBED_EVENTS, "pdgraph: keeps the JupiterOne graph of this account live"
        )
    except ConfigError as exc:
        _fail(f"configuration error: {exc}", EXIT_CONFIG)
    except PagerDutyError as exc:
        _fail(str(exc))
    secret = created["delivery_method"].get("secret", "")
    click.echo(
        f"created subscription {created['id']} for {url} ({len(SUBSCRIBED_EVENTS)} event types)"
    )
    click.echo(f"signing secret (PagerDuty shows it only now): {secret}")
    click.echo("add it to PAGERDUTY_WEBHOOK_SECRETS (comma-separated with any current one)")


def _last_error_line(job: Job) -> str:
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or "no error recorded"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


@cli.command()
@click.option("--requeue", is_flag=True, help="Put every failed job back on its queue.")
def failed(requeue: bool) -> None:
    """List failed jobs with their error (and requeue them)."""
    settings = _settings()
    connection = connect(settings.redis_url)
    count = 0
    try:
        for queue_name in QUEUES:
            registry = FailedJobRegistry(queue_name, connection=connection)
            for job_id in registry.get_job_ids():
                try:
                    job = Job.fetch(job_id, connection=connection)
                except NoSuchJobError:
                    continue
                count += 1
                ended = job.ended_at.isoformat(timespec="seconds") if job.ended_at else "-"
                click.echo(
                    f"{job_id}  {queue_name}  {job.description or job.func_name}  {ended}  "
                    f"{_last_error_line(job)}"
                )
                if requeue:
                    registry.requeue(job_id)
    except redis.RedisError as exc:
        _fail(f"REDIS_URL does not answer ({type(exc).__name__})")
    if requeue:
        click.echo(f"{count} failed job{'s' if count != 1 else ''} requeued")
    else:
        click.echo(f"{count} failed job{'s' if count != 1 else ''}")


def main() -> None:
    cli(prog_name="pdgraph")


if __name__ == "__main__":
    main()
