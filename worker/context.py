"""What RQ jobs reuse from one job to the next in a worker process: settings, Redis, the
sink and the PagerDuty client (made on first use: a ping needs neither)."""

from __future__ import annotations

import os

import redis

from common import metrics
from common.clients.pagerduty import PagerDutyClient, client_from_settings
from common.config import Settings, load_settings
from common.logs import configure_logging
from common.sinks import GraphSink, make_sink
from common.state.connection import connect
from worker.flush import flush_scheduler


class JobContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connection: redis.Redis = connect(settings.redis_url)
        self.pid = os.getpid()
        self._sink: GraphSink | None = None
        self._client: PagerDutyClient | None = None

    @property
    def sink(self) -> GraphSink:
        if self._sink is None:
            self._sink = make_sink(
                self.settings, self.connection, schedule_flush=flush_scheduler(self.connection)
            )
        return self._sink

    @property
    def client(self) -> PagerDutyClient:
        if self._client is None:
            self._client = client_from_settings(self.settings, self.connection)
        return self._client

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


_context: JobContext | None = None


def job_context() -> JobContext:
    """The process's context, rebuilt when the settings change or after a fork."""
    global _context
    settings = load_settings()
    if _context is None or _context.settings != settings or _context.pid != os.getpid():
        if _context is not None and _context.pid == os.getpid():
            _context.close()
        configure_logging(settings.log_level, settings.secret_values())
        _context = JobContext(settings)
        metrics.recorder.bind(_context.connection)
    return _context
