"""`pdgraph report`: the compliance evidence report of the graph the sink holds."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import redis

from common.report.inputs import report_of
from common.report.period import parse_period
from common.report.render import FORMATS, render
from common.state.connection import connect
from common.state.full_sync import report_refusal
from worker.cli.base import EXIT_CONFIG, fail, reading_sink, settings_for_command


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people, json for tools, html for auditors",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="write the report to FILE instead of stdout",
)
@click.option(
    "--period",
    "period_text",
    metavar="DAYS",
    help="add the evidence of the last DAYS days: level-1 coverage, admin rights, users,"
    " policy and schedule changes (from the change history)",
)
def report(fmt: str, out: Path | None, period_text: str | None) -> None:
    """Report what an audit asks of the on-call setup, from the graph pdgraph holds: as of
    when, who is on call now, the findings, and with --period what happened over it.

    Exit 0 with findings too (they are the report's content); 1 when no full sync has
    completed yet (there is no graph to give evidence of: run `pdgraph sync` first) or the
    graph cannot be read; 2 for a bad --period.
    """
    period = None
    if period_text is not None:
        try:
            period = parse_period(period_text)
        except ValueError as exc:
            fail(f"--period: {exc}", EXIT_CONFIG)
    settings = settings_for_command()
    connection = connect(settings.redis_url)
    try:
        refusal = report_refusal(connection)
    except redis.RedisError as exc:
        fail(f"Redis: {exc}")
    if refusal is not None:  # never an empty "all passed" report
        fail(refusal)
    with reading_sink(settings) as sink:
        built = report_of(settings, connection, sink, period_days=period, now=datetime.now(UTC))
    text = render(built, fmt)
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"--out {out}: {exc.strerror or exc}")
    click.echo(f"pdgraph: report written to {out} ({len(built['findings'])} findings)", err=True)
