"""`pdgraph check`: does each thing pdgraph depends on answer? One line each."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime

import click
import redis

from common.clients.pagerduty import AuditTrailUnavailable, PagerDutyError, client_from_settings
from common.config import ConfigError, Settings
from common.sinks import SinkError, make_sink, missing_local_graph
from common.sinks.jupiterone.layout import Layout, describe
from common.state.connection import connect
from common.state.freshness import CANNOT_KNOW
from common.state.full_sync import last_full_sync, last_successful_full_sync
from worker.cli.base import EXIT_CONFIG, EXIT_FAILED, settings_for_command


@dataclass
class Finding:
    """One checked dependency: ok (with a detail) or failed (with the reason)."""

    what: str
    error: str | None = None
    detail: str = ""
    configuration: bool = False  # the failure is a variable missing or malformed
    note: str | None = None
    warning: str | None = None  # worth a look, but not a failure (exit status unchanged)

    @classmethod
    def misconfigured(cls, what: str, error: ConfigError) -> Finding:
        return cls(what, f"configuration error: {error}", configuration=True)

    def report(self) -> None:
        if self.error is not None:
            click.echo(f"FAIL  {self.what}: {self.error}", err=True)
            return
        if self.warning is not None:
            click.echo(f"WARN  {self.what}: {self.warning}", err=True)
            return
        click.echo(f"ok    {self.what}{': ' + self.detail if self.detail else ''}")
        if self.note is not None:
            click.echo(f"note  {self.note}")


def check_redis(settings: Settings) -> tuple[redis.Redis | None, Finding]:
    """The Redis client for the next checks (None when Redis does not answer)."""
    connection = connect(settings.redis_url)
    try:
        connection.ping()
    except redis.RedisError as exc:
        return None, Finding("Redis", f"REDIS_URL does not answer ({type(exc).__name__})")
    return connection, Finding("Redis", detail="answers")


def check_pagerduty(settings: Settings, connection: redis.Redis | None) -> Finding:
    """The key against `GET /abilities`, without the sync's patience: a PagerDuty that
    does not answer is reported within seconds, naming PAGERDUTY_API_URL."""
    try:
        client = client_from_settings(settings, connection, patient=False)
        abilities = client.abilities()
    except ConfigError as exc:
        return Finding.misconfigured("PagerDuty", exc)
    except PagerDutyError as exc:
        return Finding("PagerDuty", str(exc))
    return Finding(
        "PagerDuty",
        detail=f"key accepted at {settings.pagerduty_api_url}",
        note=None
        if "teams" in abilities
        else "PagerDuty account has no Teams feature: no team entities",
    )


def check_audit_records(settings: Settings, connection: redis.Redis | None) -> Finding:
    """Whether PagerDuty serves the audit-records feed (one page of one record): if not,
    users, teams and memberships come from the light refresh, and this says why."""
    what = "PagerDuty audit records"
    try:
        client = client_from_settings(settings, connection, patient=False)
        client.audit_records_page(("users",), limit=1)
    except ConfigError as exc:
        return Finding.misconfigured(what, exc)
    except AuditTrailUnavailable as exc:
        return Finding(
            what,
            detail=f"unavailable, {exc}: users and teams by light refresh every "
            f"{settings.people_refresh_minutes} min (PEOPLE_REFRESH_MINUTES); {CANNOT_KNOW}",
        )
    except PagerDutyError as exc:
        return Finding(what, str(exc))
    return Finding(
        what,
        detail=f"available: users, teams, policies and schedules polled every "
        f"{settings.audit_poll_seconds} s",
    )


def check_sink(settings: Settings, connection: redis.Redis | None) -> Finding:
    """The configured sink answers; a local graph must exist already (none is created)."""
    what = f"sink ({settings.graph_sink})"
    missing = missing_local_graph(settings)
    if missing is not None:
        return Finding(what, missing)
    try:
        sink = make_sink(settings, connection)
        try:
            sink.check()
        finally:
            sink.close()
    except ConfigError as exc:
        return Finding.misconfigured(what, exc)
    except SinkError as exc:
        return Finding(what, str(exc))
    if settings.graph_sink == "local":
        return Finding(what, detail=settings.local_graph_path)
    return Finding(
        what,
        detail=f"scope {settings.jupiterone_scope!r} at {settings.jupiterone_api_url}",
        note=_layout(settings, connection),
    )


def _layout(settings: Settings, connection: redis.Redis | None) -> str | None:
    """Where pdgraph writes JupiterOne relationships (one scope or edge partitions)."""
    layout = Layout.configured(connection, settings) if connection is not None else None
    try:
        return describe(layout.status()) if layout else None
    except redis.RedisError:
        return None


def _at(epoch: object) -> str:
    if not isinstance(epoch, int | float):
        return "?"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def check_full_sync(connection: redis.Redis | None) -> Finding | None:
    """A warning when the last full sync attempt failed, aborted or was abandoned (the
    graph is as old as the last success, which it names); None otherwise."""
    if connection is None:
        return None
    what = "full sync"
    try:
        last, ok = last_full_sync(connection), last_successful_full_sync(connection)
    except redis.RedisError:
        return None  # Redis' own line says it does not answer
    if last is None or last.get("outcome") in ("ok", "running"):
        return None
    outcome, started = last.get("outcome"), _at(last.get("started_at"))
    success = f"last success started {_at(ok.get('started_at'))}" if ok else "no success yet"
    error = f" ({last['error']})" if last.get("error") else ""
    return Finding(
        what, warning=f"the last attempt, started {started}, {outcome}{error}; {success}"
    )


@click.command()
def check() -> None:
    """Check Redis, the PagerDuty key, its audit records and the sink; one line each.

    Every line is printed even when one fails. Exit 0 when all are ok; 2 when a failure
    is configuration (a variable missing or malformed, such as no PAGERDUTY_API_KEY);
    else 1 when any failed. A last full sync that failed, aborted or was abandoned is a
    WARN line (exit status unchanged). A local graph that does not exist yet fails (run
    `pdgraph sync` first); check never creates one.
    """
    settings = settings_for_command()
    connection, redis_finding = check_redis(settings)
    pagerduty = check_pagerduty(settings, connection)
    findings = [redis_finding, pagerduty]
    if pagerduty.error is None:  # a key PagerDuty rejects has said so once already
        findings.append(check_audit_records(settings, connection))
    findings.append(check_sink(settings, connection))
    sync = check_full_sync(connection)
    if sync is not None:
        findings.append(sync)
    for finding in findings:
        finding.report()
    if any(f.configuration for f in findings):
        sys.exit(EXIT_CONFIG)
    if any(f.error is not None for f in findings):
        sys.exit(EXIT_FAILED)
