"""The webhook path assembled over real sockets: simulator → receiver → Redis → worker → sink."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from rq import Queue, Retry
from rq.registry import ScheduledJobRegistry
from werkzeug.serving import BaseWSGIServer, make_server

from common.config import Settings
from common.queueing import JOBS, QUEUES, JobName
from common.sinks.local import LocalSink
from sim.pagerduty import PagerDutySim, WebhookSender
from tests.waiting import WAIT_SECONDS
from web.app import create_app
from worker.full_sync import run_full_sync
from worker.rqworker import PromptSimpleWorker

WEBHOOK_SECRET = "whsec-test-✓-0123"


def serve(app: Any) -> tuple[BaseWSGIServer, str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server, f"http://127.0.0.1:{server.port}"


def configure_env(
    monkeypatch: Any, sim_url: str, redis_url: str, graph_path: str
) -> dict[str, str]:
    """Point every pdgraph process of the test (and its subprocesses) at this stack."""
    from tests.conftest import API_KEY

    values = {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim_url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": graph_path,
        "PAGERDUTY_WEBHOOK_SECRETS": WEBHOOK_SECRET,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@dataclass
class Stack:
    sim: PagerDutySim
    redis: redis.Redis
    settings: Settings
    receiver_url: str = ""
    sender: WebhookSender = field(init=False)
    _server: BaseWSGIServer | None = None

    def start_receiver(self) -> None:
        self._server, base = serve(create_app(self.settings, self.redis))
        self.receiver_url = f"{base}/webhooks/pagerduty"
        self.sender = self.sim.send_webhooks_to(self.receiver_url, [WEBHOOK_SECRET])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def full_sync(self) -> None:
        run_full_sync(self.settings, redis_client=self.redis)

    def read_dependencies(self) -> dict[str, Any]:
        """The dependency pass, every service and business service (`pdgraph dependencies
        --all`; the clock's runs read them over the first minutes)."""
        from worker.context import JobContext
        from worker.dependencies import read_dependencies

        context = JobContext(self.settings)
        try:
            return read_dependencies(context, everything=True)
        finally:
            context.close()

    def queues(self) -> list[Queue]:
        return [Queue(name, connection=self.redis) for name in QUEUES]

    def pending(self, horizon: float = 10.0) -> int:
        """Jobs queued, or scheduled within `horizon` s (not hand-offs days away)."""
        due = time.time() + horizon
        return sum(
            q.count + self.redis.zcount(ScheduledJobRegistry(queue=q).key, 0, due)
            for q in self.queues()
        )

    def drain(self, timeout: float = WAIT_SECONDS) -> None:
        """Run a worker until nothing is queued or scheduled (throttled refreshes included)."""
        deadline = time.monotonic() + timeout
        while True:
            PromptSimpleWorker(self.queues(), connection=self.redis).work(
                burst=True, with_scheduler=True, logging_level="WARNING"
            )
            if not self.pending():
                return
            assert time.monotonic() < deadline, f"{self.pending()} jobs still pending"
            time.sleep(0.1)

    def poll_feed(self) -> dict[str, Any]:
        """One audit-records poll (the clock's job: policies, schedules, users, teams; the
        services it names are queued), then drain what it queued."""
        from worker import jobs

        result: dict[str, Any] = jobs.poll_audit_records()
        self.drain()
        return result

    def export(self) -> dict[str, Any]:
        return LocalSink(self.settings.local_graph_path).read_graph().to_j1()

    def export_names(self) -> dict[str, str]:
        return {e["_key"]: e["name"] for e in self.export()["entities"]}

    def re_reads(self, service_id: str) -> int:
        return self.sim.request_counts()[f"/services/{service_id}"]


def retry_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhook and service-refresh jobs retry once, at once (not five times over half an
    hour): for tests that wait for a failing job to end in the failed registry."""
    for name in (JobName.PROCESS_WEBHOOK, JobName.REFRESH_SERVICE):
        quick = dataclasses.replace(JOBS[name], retry=Retry(max=1, interval=[0]))
        monkeypatch.setitem(JOBS, name, quick)
