"""`pdgraph export`: the sink's graph as JSON on stdout."""

from __future__ import annotations

import json
import sys

import click

from worker.cli.base import read_graph, settings_for_command


@click.command()
def export() -> None:
    """Print the sink's graph as JSON (the JupiterOne bulk-upload shape), sorted by _key.

    A local graph that does not exist yet is an error (exit 1): run `pdgraph sync` first.
    """
    graph = read_graph(settings_for_command())
    json.dump(graph.to_j1(), sys.stdout, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")
