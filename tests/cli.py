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
