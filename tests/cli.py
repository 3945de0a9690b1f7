"""Run the installed `pdgraph` command the way an operator does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PDGRAPH = str(Path(sys.executable).parent / "pdgraph")
OWN_VARIABLES = (
    "PAGERDUTY_",
    "JUPITERONE_",
    "REDIS_URL",
    "GRAPH_SINK",
    "LOCAL_GRAPH_PATH",
    "ACCOUNT_NAME",
    "FULL_SYNC_CRON",
    "PORT",
    "LOG_LEVEL",
    "ONCALL_REFRESH",
    "READ_TOKENS",
)


def run_pdgraph(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    return subprocess.run(
        [PDGRAPH, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def said(stream: str) -> list[str]:
    """What the command said to a person: its lines that are not JSON log lines."""
    return [line for line in stream.splitlines() if line.strip() and not line.startswith("{")]


def one_line_failure(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The command failed with `code` and said why in one line of stderr, no traceback."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    [line] = said(result.stderr)
    return line
