"""`pdgraph changes`: the change history of the configured sink, oldest first."""

from __future__ import annotations

import time

import click

from common.sinks.history import (
    MAX_PAGE,
    SOURCES,
    Query,
    entry_json,
    parse_since,
    text_line,
)
from worker.cli.base import EXIT_CONFIG, fail, reading_sink, settings_for_command


@click.command()
@click.option("--since", "since_text", metavar="TIME", help="ISO-8601 (UTC) or 30m, 2h, 7d ago.")
@click.option("--key", metavar="KEY", help="Only changes of this _key (an entity or an edge).")
@click.option("--type", "type_", metavar="TYPE", help="Only changes of this _type.")
@click.option(
    "--source",
    type=click.Choice(SOURCES),
    help="graph: pdgraph's writes to the graph; pagerduty: PagerDuty's audit records.",
)
@click.option("--actor", metavar="ID", help="Only changes made by this actor (user, key, app id).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def changes(
    since_text: str | None,
    key: str | None,
    type_: str | None,
    source: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Print the change history, oldest first: every change pdgraph wrote to the graph
    (when, what, before and after, and the webhook event, audit record or run that caused
    it) and every PagerDuty audit record the feed read, as PagerDuty recorded it (who,
    by which means), whether or not the graph still shows the change.

    Kept CHANGE_HISTORY_DAYS days. Text: one line per change; --json: one object per line.
    """
    since = None
    if since_text is not None:
        try:
            since = parse_since(since_text, time.time())
        except ValueError as exc:
            fail(f"--since: {exc}", EXIT_CONFIG)
    try:
        query = Query(since=since, key=key, type_=type_, source=source, actor=actor)
    except ValueError as exc:  # --source is a click.Choice: only --type reaches here
        fail(f"--type: {exc}", EXIT_CONFIG)
    with reading_sink(settings_for_command()) as sink:
        cursor: str | None = None
        while True:
            page, cursor = sink.changes(query, cursor=cursor, limit=MAX_PAGE)
            for entry in page:
                click.echo(entry_json(entry) if as_json else text_line(entry))
            if cursor is None:
                break
