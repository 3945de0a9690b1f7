"""`pdgraph dependencies`: the dependency pass's run, now, in this process."""

from __future__ import annotations

import click
import redis

from common.clients.pagerduty import PagerDutyError
from common.config import ConfigError
from common.sinks import SinkError, missing_local_graph
from worker.cli.base import fail, fail_configuration, settings_for_command
from worker.context import JobContext
from worker.dependencies import read_dependencies


@click.command()
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Read every service and business service now, whatever the budget (one PagerDuty "
    "request each), not only those due.",
)
def dependencies(everything: bool) -> None:
    """Read the service dependencies due now (what the clock's minute run reads) and write
    what changed; one summary line.

    The services and business services are those of the last full sync (run `pdgraph sync`
    first). Exit 0 done (or skipped: a full sync or another run is running, it says so),
    1 failed, 2 configuration.
    """
    settings = settings_for_command()
    missing = missing_local_graph(settings)
    if missing is not None:
        fail(missing)
    try:
        settings.require_pagerduty_key()
        context = JobContext(settings)
        try:
            result = read_dependencies(context, everything=everything)
        finally:
            context.close()
    except ConfigError as exc:
        fail_configuration(exc)
    except (PagerDutyError, SinkError, redis.RedisError) as exc:
        fail(f"dependency reads failed: {exc}")
    if "skipped" in result:
        click.echo(f"dependencies: skipped, {result['skipped']}")
        return
    click.echo(
        f"dependencies: read {result['read']:,} of {result['dependents']:,} services and "
        f"business services; {result['changes_applied']:,} changes written; "
        f"{result['pagerduty_requests']} PagerDuty requests"
    )
