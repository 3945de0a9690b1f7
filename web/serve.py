"""`python -m web`: the Procfile's web process, gunicorn started from Python.

Started from Python rather than gunicorn's command line so that a configuration error
is one line naming the variable (exit 2), a taken PORT is one line with the fix (exit 1),
every line gunicorn prints is JSON, and no setting (REDIS_URL may hold a password) is in
the process's arguments. Each gunicorn worker builds its own app (create_app) after the
fork, and after gevent's monkey-patching: Redis connections are not shared between
processes, and their sockets are gevent's.

Workers are gevent's (README, Processes: why): a connection that sends its request slowly,
or not at all, holds a greenlet, not one of a few threads, so a thousand of them cannot
starve the receiver whether or not a buffering proxy sits in front.
"""

from __future__ import annotations

import errno
import logging
import resource
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from gunicorn.workers.base_async import AsyncWorker  # type: ignore[import-untyped]
from gunicorn.workers.ggevent import GeventWorker  # type: ignore[import-untyped]

from common.config import Settings, settings_or_exit
from common.logs import configure_logging
from web.app import create_app
from web.gunicorn_logs import json_logger

HOST = "0.0.0.0"  # noqa: S104  (the platform routes to every interface of the dyno)
TIMEOUT = 30  # Heroku's router gives a request 30 s
# Connections each worker serves at once; past it, the worker stops accepting until one
# closes. A silent connection costs a greenlet and a file descriptor (serve() raises the
# process's limit), and gunicorn drops it within CLIENT_SILENCE_TIMEOUT.
WORKER_CONNECTIONS = 2000
# A client silent this long mid-request (or not reading the answer) is dropped. Request
# lines and headers have gunicorn's own bound under gevent: `keepalive` (2 s) in all.
CLIENT_SILENCE_TIMEOUT = 10

AppFactory = Callable[[Settings], Any]  # settings → WSGI app, called in each worker


class ReceiverWorker(GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker, except that a client socket read or written waits at most
    CLIENT_SILENCE_TIMEOUT: gunicorn's makes it blocking, so a body that stops arriving
    would hold its connection for ever."""

    def init_process(self) -> None:
        # Until gunicorn installs the worker's handlers (after gevent has patched the
        # process, ~0.1 s after the fork) a SIGTERM from the master would meet the
        # master's own handler and be lost: the worker would outlive the graceful
        # timeout. A stop asked that early is kept.
        for stop in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(stop, self.handle_exit)
        super().init_process()

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        client.settimeout(CLIENT_SILENCE_TIMEOUT)
        AsyncWorker.handle(self, listener, client, addr)  # GeventWorker's sets no timeout


class WebServer(BaseApplication):  # type: ignore[misc]
    """gunicorn's master with options given as a dict and the app made by `factory`."""

    def __init__(self, factory: AppFactory, settings: Settings, options: dict[str, Any]) -> None:
        self.factory, self.settings, self.options = factory, settings, options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        return self.factory(self.settings)


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """The deployed settings: gevent workers (why: README, Processes), access log on."""
    return {
        "bind": f"{HOST}:{settings.port}",
        "workers": settings.web_concurrency,
        "worker_class": ReceiverWorker,
        "worker_connections": WORKER_CONNECTIONS,
        "timeout": TIMEOUT,
        "accesslog": "-",
        "loglevel": settings.log_level.lower(),
        "logger_class": json_logger(settings.secret_values()),
        # gunicornc's socket defaults to one path per user ($HOME/.gunicorn): two web
        # processes on a host would take it from each other, and pdgraph does not use it.
        "control_socket_disable": True,
    }


def port_problem(port: int) -> str | None:
    """Why gunicorn could not listen on `port`, or None. Checked before gunicorn starts:
    its own bind loop retries for 5 s and prints lines of its own."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                other = port + 1 if port < 65535 else port - 1
                return f"PORT {port} is already in use; set PORT to a free port (e.g. PORT={other})"
            return f"cannot listen on PORT {port}: {exc.strerror}"
    return None


def raise_open_files_limit(wanted: int) -> None:
    """Raise this process's (so its workers') open-files soft limit towards `wanted` plus
    room for Redis and logs, within the hard limit: 1,024, a common default, is fewer than
    the connections a worker accepts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted + 256 if hard == resource.RLIM_INFINITY else min(wanted + 256, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def serve(settings: Settings, factory: AppFactory = create_app, **overrides: Any) -> None:
    """Run gunicorn until it is stopped (SIGTERM, SIGINT); exit 1 if PORT is unusable.
    `overrides` change gunicorn options (bench/ingest.py turns the access log off)."""
    problem = port_problem(settings.port)
    if problem is not None:
        print(f"pdgraph web: {problem}", file=sys.stderr)
        raise SystemExit(1)
    raise_open_files_limit(settings.web_concurrency * WORKER_CONNECTIONS)
    configure_logging(settings.log_level, settings.secret_values())
    logging.captureWarnings(True)  # a library's warning is a JSON line too
    WebServer(factory, settings, {**gunicorn_options(settings), **overrides}).run()


def main() -> None:
    serve(settings_or_exit("web", require=Settings.require_webhook_secrets))
