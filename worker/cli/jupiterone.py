"""`pdgraph jupiterone probe`: check, in a throwaway scope, what pdgraph relies on."""

from __future__ import annotations

import sys

import click
import redis

from common.clients.jupiterone import JupiterOneBudgets, JupiterOneClient
from common.config import ConfigError
from common.sinks.jupiterone.layout import Layout, describe
from common.sinks.jupiterone.probe import ProbeReport, run_probe
from common.state.connection import connect
from worker.cli.base import EXIT_FAILED, fail, fail_configuration, settings_for_command


def _keep_verdict(
    connection: redis.Redis | None, account: str, scope: str, report: ProbeReport
) -> None:
    """Keep the partitions verdict where the sink reads it (the next full sync moves to
    the layout it allows), and say what it means."""
    if report.failure is not None:
        click.echo("layout  the probe failed: the layout pdgraph writes stays as it is")
        return
    if connection is None:
        click.echo("layout  Redis unreachable: the verdict was not kept (run the probe again)")
        return
    layout = Layout(connection, account, scope)
    try:
        layout.keep_verdict(report.partitions.as_dict(), report.partitions_safe)
        click.echo(f"layout  {describe(layout.status())}")
    except redis.RedisError as exc:
        click.echo(f"layout  the verdict was not kept (Redis: {exc})")


@click.group()
def jupiterone() -> None:
    """JupiterOne account checks."""


@jupiterone.command()
def probe() -> None:
    """Probe, in a throwaway scope of the configured JupiterOne account, the behaviours
    pdgraph relies on that JupiterOne does not document; remove everything it made.

    Reports what JupiterOne does with a GraphQL-created relationship (owned by the sync
    scope, duplicated beside it, or rejected), whether J1QL `_key` lookups find what they
    should, what edge partitions rely on (relationships whose ends are in another scope:
    accepted, deleted by a later DIFF, kept when an end is deleted) and the rate-limit
    headers seen. The partitions verdict is kept in Redis: where it says safe, the next
    full sync moves relationships into edge partitions (and back where it does not).
    Exit 0 when pdgraph's way of writing is safe on this account, 1 with the reason
    otherwise, 2 on a configuration error.
    """
    settings = settings_for_command()
    if settings.jupiterone_account_id is None or settings.jupiterone_api_key is None:
        fail_configuration(ConfigError("JUPITERONE_ACCOUNT_ID and JUPITERONE_API_KEY required"))
    account = settings.jupiterone_account_id
    connection: redis.Redis | None = None
    try:  # the account's tokens are shared with the running pdgraph processes
        connection = connect(settings.redis_url)
        connection.ping()
        budgets = JupiterOneBudgets.shared(connection, account)
    except redis.RedisError:
        click.echo("note   Redis unreachable: the probe budgets its requests alone", err=True)
        budgets = JupiterOneBudgets.local()
        connection = None
    client = JupiterOneClient(
        account,
        settings.jupiterone_api_key.get_secret_value(),
        settings.jupiterone_api_url,
        settings.jupiterone_graphql_url,
        budgets=budgets,
    )
    try:
        report = run_probe(client)
    finally:
        client.close()
    for line in report.lines():
        click.echo(line)
    _keep_verdict(connection, account, settings.jupiterone_scope, report)
    if not report.safe:
        fail(f"jupiterone probe: not safe: {report.reason()}", EXIT_FAILED)
    click.echo("ok     pdgraph's writes (DIFF jobs for relationships) are safe on this account")
    sys.exit(0)
