"""What the benchmarks share: free ports, a private redis-server, the Procfile's commands,
the run's configuration and the simulated JupiterOne account's variables."""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from common import metrics  # noqa: E402
from common.config import Settings, load_settings  # noqa: E402
from sim.jupiterone import JupiterOneSim  # noqa: E402
from sim.redis_server import RedisServer  # noqa: E402
from sim.redis_server import free_port as free_port  # noqa: E402  (re-exported)

BIN = Path(sys.executable).parent
# Variables of the caller's shell that would point a run at someone else's account or graph.
CONFIG_PREFIXES = ("PAGERDUTY_", "GRAPH_", "JUPITERONE_", "LOCAL_GRAPH_", "REDIS_")
# PagerDuty's request budget, raised where a benchmark measures the pipeline, not the budget.
RAISED_BUDGET = {"PAGERDUTY_REQUESTS_PER_MINUTE": "100000"}


def start_redis() -> tuple[RedisServer, str]:
    """A redis-server of the benchmark's own (nothing on disk), and its URL."""
    server = RedisServer().start()
    return server, server.url


@contextmanager
def private_redis() -> Iterator[str]:
    """The URL of a redis-server of the benchmark's own, stopped on leaving."""
    server, url = start_redis()
    try:
        yield url
    finally:
        # Jobs run in this process count into it: written now, not at exit after it stopped.
        metrics.recorder.flush()
        server.stop()


def configure(**values: str) -> Settings:
    """Make `values` the configuration of this process and of the processes it starts: the
    job functions load their settings from the environment, as in a worker. Whatever
    pdgraph configuration the shell had is dropped; logs are quiet unless `values` say."""
    for name in [name for name in os.environ if name.startswith(CONFIG_PREFIXES)]:
        del os.environ[name]
    os.environ.update({"LOG_LEVEL": "WARNING", **values})
    return load_settings()


def jupiterone_env(j1: JupiterOneSim) -> dict[str, str]:
    """The variables that point pdgraph's sink at the JupiterOne simulator `j1`."""
    return {
        "GRAPH_SINK": "jupiterone",
        "JUPITERONE_ACCOUNT_ID": j1.account_id,
        "JUPITERONE_API_KEY": j1.api_key,
        "JUPITERONE_API_URL": j1.api_url,
        "JUPITERONE_GRAPHQL_URL": j1.graphql_url,
    }


def procfile_line(process: str) -> str:
    """The Procfile's command line for `process`, as written there."""
    return next(
        line.split(":", 1)[1].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith(f"{process}:")
    )


def procfile_command(process: str, env: dict[str, str]) -> list[str]:
    """The Procfile's command for `process`, ${VAR:-default} expanded from `env`."""
    command = [
        re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m[1], m[2] or ""), word)
        for word in shlex.split(procfile_line(process))
    ]
    return [str(BIN / command[0]), *command[1:]]
