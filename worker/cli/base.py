"""What every `pdgraph` command shares: exit codes, the one-line failure, the settings."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
import redis

from common.config import ConfigError, Settings, load_settings
from common.graph import Graph
from common.logs import configure_logging
from common.sinks import GraphSink, SinkError, make_sink, missing_local_graph

EXIT_FAILED = 1
EXIT_CONFIG = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """One line on stderr and the exit status: the operator's whole error report."""
    click.echo(f"pdgraph: {message}", err=True)
    sys.exit(code)


def fail_configuration(error: ConfigError) -> NoReturn:
    fail(f"configuration error: {error}", EXIT_CONFIG)


def settings_for_command() -> Settings:
    """The settings, or exit 2 naming the variable; logs then go to stderr as JSON lines,
    so that stdout carries only the command's output."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail_configuration(exc)
    configure_logging(settings.log_level, settings.secret_values(), stream=sys.stderr)
    return settings


@contextmanager
def reading_sink(settings: Settings) -> Iterator[GraphSink]:
    """The configured sink, for a command that reads the graph. A local graph not synced
    yet, a sink or Redis error end the command (exit 1), a configuration error exit 2."""
    missing = missing_local_graph(settings)
    if missing is not None:
        fail(missing)
    try:
        sink = make_sink(settings)
        try:
            yield sink
        finally:
            sink.close()
    except ConfigError as exc:
        fail_configuration(exc)
    except SinkError as exc:
        fail(str(exc))
    except redis.RedisError as exc:
        fail(f"Redis: {exc}")


def read_graph(settings: Settings) -> Graph:
    """The sink's whole graph, or the command ends as `reading_sink` says."""
    with reading_sink(settings) as sink:
        return sink.read_graph()
