"""`pdgraph export`: the sink's graph as JSON on stdout."""

from __future__ import annotations

import json
import sys

import click

from common.config import ConfigError
from common.sinks import SinkError, make_sink
from worker.cli.base import fail, fail_configuration, missing_local_graph, settings_for_command


@click.command()
def export() -> None:
    """Print the sink's graph as JSON (the JupiterOne bulk-upload shape), sorted by _key.

    A local graph that does not exist yet is an error (exit 1): run `pdgraph sync` first.
    """
    settings = settings_for_command()
    missing = missing_local_graph(settings)
    if missing is not None:
        fail(missing)
    try:
        sink = make_sink(settings)
        try:
            graph = sink.read_graph()
        finally:
            sink.close()
    except ConfigError as exc:
        fail_configuration(exc)
    except SinkError as exc:
        fail(str(exc))
    json.dump(graph.to_j1(), sys.stdout, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")
