"""What the benchmarks share: free ports, a private redis-server, the Procfile's commands."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from sim.redis_server import RedisServer, free_port  # noqa: E402, F401  (free_port re-exported)

BIN = Path(sys.executable).parent


def start_redis() -> tuple[RedisServer, str]:
    """A redis-server of the benchmark's own (nothing on disk), and its URL."""
    server = RedisServer().start()
    return server, server.url


def procfile_command(process: str, env: dict[str, str]) -> list[str]:
    """The Procfile's command for `process`, ${VAR:-default} expanded from `env`."""
    line = next(
        line
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith(f"{process}:")
    )
    command = [
        re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m[1], m[2] or ""), word)
        for word in shlex.split(line.split(":", 1)[1])
    ]
    return [str(BIN / command[0]), *command[1:]]


def without_option(command: list[str], option: str) -> list[str]:
    """`command` minus `option` and its value."""
    if option not in command:
        return command
    at = command.index(option)
    return command[:at] + command[at + 2 :]
