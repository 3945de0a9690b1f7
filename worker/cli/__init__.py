"""`pdgraph`: the operator's command line (SPEC §3).

Exit codes: 0 success, 1 the operation failed (its reason on stderr), 2 bad configuration
or usage. Logs go to stderr here so that stdout carries only the command's output.
"""

from __future__ import annotations

import click

from worker.cli.changes import changes
from worker.cli.check import check
from worker.cli.dependencies import dependencies
from worker.cli.export import export
from worker.cli.failed import failed
from worker.cli.jupiterone import jupiterone
from worker.cli.report import report
from worker.cli.sync import sync
from worker.cli.webhooks import webhooks


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pdgraph", prog_name="pdgraph", message="%(prog)s %(version)s")
def cli() -> None:
    """Keep a JupiterOne graph of a PagerDuty account live.

    Exit codes: 0 success, 1 the operation failed, 2 bad configuration or usage.
    """


for command in (sync, dependencies, export, check, webhooks, failed, report, changes, jupiterone):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="pdgraph")


__all__ = ["cli", "main"]
