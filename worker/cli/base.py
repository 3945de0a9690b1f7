"""What every `pdgraph` command shares: exit codes, the one-line failure, the settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from common.config import ConfigError, Settings, load_settings
from common.logs import configure_logging

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


def missing_local_graph(settings: Settings) -> str | None:
    """Why there is no local graph to read yet (None: there is one, or the sink is not local).

    Opening the SQLite file would create an empty graph: reading commands ask first.
    """
    if settings.graph_sink != "local" or Path(settings.local_graph_path).is_file():
        return None
    return (
        f"LOCAL_GRAPH_PATH {settings.local_graph_path}: no graph there yet (run pdgraph sync first)"
    )
