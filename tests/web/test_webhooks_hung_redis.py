"""A hung Redis (stopped, not refusing) gets a 503 within PagerDuty's 5 s deadline, and
the receiver recovers when Redis does (issue 10)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest
import redis
import requests

from common.config import Settings
from common.state.connection import connect_fail_fast
from sim.redis_server import RedisServer
from tests.stack import serve
from tests.web.test_webhooks import NEW, event_body, sign
from web.app import create_app


@pytest.fixture
def stoppable_redis(own_redis: RedisServer) -> Iterator[tuple[str, int]]:
    """The URL and pid of a redis-server of this test's own (it is SIGSTOPped)."""
    pid = int(redis.Redis.from_url(own_redis.url).info("server")["process_id"])
    yield own_redis.url, pid
    os.kill(pid, signal.SIGCONT)  # before own_redis stops it


def timed_post(url: str, body: bytes) -> tuple[int, float]:
    start = time.monotonic()
    response = requests.post(
        url, data=body, headers={"X-PagerDuty-Signature": sign(body, NEW)}, timeout=30
    )
    return response.status_code, time.monotonic() - start


def timed_get(url: str) -> tuple[int, float]:
    start = time.monotonic()
    response = requests.get(url, timeout=30)
    return response.status_code, time.monotonic() - start


def test_a_stopped_redis_gets_503_within_2_s_and_recovery_after_sigcont(
    stoppable_redis: tuple[str, int], make_settings: Callable[..., Settings]
) -> None:
    url, pid = stoppable_redis
    settings = make_settings(redis_url=url, pagerduty_webhook_secrets=NEW)
    server, base = serve(create_app(settings, connect_fail_fast(url)))
    hook = f"{base}/webhooks/pagerduty"
    try:
        assert timed_post(hook, event_body(event_id="01BEFORE"))[0] == 202
        os.kill(pid, signal.SIGSTOP)
        status, took = timed_post(hook, event_body(event_id="01DURING"))
        assert status == 503
        assert took < 3.0  # PagerDuty gives up after 5 s; redis-py's defaults took 10 s
        ready, ready_took = timed_get(f"{base}/readyz")
        assert ready == 503
        assert ready_took < 2.0  # it was 5 s
        os.kill(pid, signal.SIGCONT)
        assert timed_post(hook, event_body(event_id="01DURING"))[0] == 202
        assert timed_get(f"{base}/readyz")[0] == 200
    finally:
        os.kill(pid, signal.SIGCONT)
        server.shutdown()
        server.server_close()
