"""`pdgraph report`: the compliance evidence report of the graph the sink holds."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from common.report import build_report
from common.report_render import FORMATS, render
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

    Exit 0 with findings too (they are the report's content); 1 when the graph cannot be
    read (a local graph that does not exist yet: run `pdgraph sync` first).
    """
    settings = settings_for_command()
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
