"""What the simulators share: a threaded WSGI server on a free port, a request log and faults."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SLOW = 0  # Fault status meaning "delay, then answer normally"


@dataclass
class Fault:
    path_prefix: str
    status: int
    times: int
    after: int = 0  # let this many matching requests through first
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """The request log is kept in memory (SimServer.requests), not printed."""


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers or {},
        content_type="application/json; charset=utf-8",
    )


class SimServer:
    """Serve `handle` on a loopback port; log every request; answer injected faults."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, str]] = []  # (method, path, query string)
        self.lock = threading.RLock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------

    def slow_down(self, path_prefix: str, seconds: float, times: int = 1) -> Fault:
        """The next `times` requests under `path_prefix` answer normally after `seconds`."""
        return self.inject(path_prefix, SLOW, times, delay=seconds)

    def inject(self, path_prefix: str, status: int, times: int = 1, **kwargs: Any) -> Fault:
        fault = Fault(path_prefix, status, times, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def request_counts(self) -> Counter[str]:
        with self.lock:
            return Counter(path for _, path, _ in self.requests)

    def reset_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = make_server(
            host, port, self.wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{self._server.host}:{self._server.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving --------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        return self.handle(request)(environ, start_response)

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def fault_body(self, status: int) -> Any:
        """The JSON body of an injected fault that brings none."""
        return {"error": {"message": "Simulated fault", "code": status}}

    def log_and_fault(self, request: Request, label: str | None = None) -> Response | None:
        """Log the request; the injected fault's answer if one matches, else None."""
        with self.lock:
            self.requests.append(
                (request.method, label or request.path, request.query_string.decode())
            )
            fault = next(
                (f for f in self.faults if request.path.startswith(f.path_prefix) and f.times > 0),
                None,
            )
            if fault is not None and fault.after > 0:
                fault.after -= 1
                fault = None
            elif fault is not None:
                fault.times -= 1
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is None or fault.status == SLOW:
            return None  # a slow answer, not a wrong one: served normally
        body = fault.body if fault.body is not None else self.fault_body(fault.status)
        if isinstance(body, str):  # raw text, e.g. an HTML error page from a proxy
            return Response(body, fault.status, fault.headers, content_type="text/html")
        return json_response(body, fault.status, fault.headers)


def serve_until_interrupted(sim: SimServer, port: int, banner: str) -> None:
    """`python -m sim.X`: serve on `port`, print `banner` (may use {url}), until Ctrl-C."""
    sim.start(port=port)
    print(banner.format(url=sim.url), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()
