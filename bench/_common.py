"""What the benchmarks share: free ports, a private redis-server, the Procfile's commands."""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of the benchmark's own (nothing on disk), and its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, url


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
