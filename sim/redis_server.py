"""A private redis-server on a free loopback port, for tests, benchmarks and the demo.

It keeps nothing on disk (unless given a `data_dir`: then an append-only file, fsynced at
every write, as a production Redis that keeps its data) and is never anyone else's Redis,
so its user may flush it, stop it, pause it and start it again on the same port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, port: int | None = None, *, data_dir: str | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed (Debian: apt-get install redis-server)"
            )
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *(
                ("--appendonly", "yes", "--appendfsync", "always", "--dir", data_dir)
                if data_dir
                else ("--appendonly", "no")
            ),
        ]
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        # Its own session: a Ctrl-C in the terminal (SIGINT to the foreground process
        # group) must not stop it before the processes that use it have stopped.
        # Without LD_PRELOAD: a suite run under libfaketime (a moved clock) must still get a
        # redis-server, which libfaketime's clock_gettime() hook stops from starting; key
        # expiry is relative, so Redis' real clock changes nothing a test sees.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self._proc = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, start_new_session=True, env=env
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 60  # a loaded machine, an append-only file to load
        while time.monotonic() < deadline and self._proc.poll() is None:
            try:
                client.ping()
                return self
            except redis.ConnectionError:  # BusyLoadingError included
                time.sleep(0.025)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)  # a paused server cannot hear SIGTERM
            self._proc.terminate()
            self._proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the server hangs (connections stay open, nothing answers)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)
