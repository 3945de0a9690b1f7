"""`pdgraph report`: the compliance evidence report of the graph the sink holds."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import redis

from common.report import build_report
from common.report_render import FORMATS, render
from common.state import connect, report_refusal
from worker.cli.base import fail, read_graph, settings_for_command


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
def report(fmt: str, out: Path | None) -> None:
    """Report what an audit asks of the on-call setup, from the graph pdgraph holds.

    Exit 0 with findings too (they are the report's content); 1 when no full sync has
    completed yet (there is no graph to give evidence of: run `pdgraph sync` first) or the
    graph cannot be read.
    """
    settings = settings_for_command()
    try:
        refusal = report_refusal(connect(settings.redis_url))
    except redis.RedisError as exc:
        fail(f"Redis: {exc}")
    if refusal is not None:  # never an empty "all passed" report
        fail(refusal)
    graph = read_graph(settings)
    built = build_report(graph, datetime.now(UTC), settings.account_name)
    text = render(built, fmt)
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"--out {out}: {exc.strerror or exc}")
    click.echo(f"pdgraph: report written to {out} ({len(built['findings'])} findings)", err=True)
