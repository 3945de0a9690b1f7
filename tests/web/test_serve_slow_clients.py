"""Slow clients cannot starve `python -m web`: a thousand connections that send part of a
request and fall silent leave signed deliveries answered (latency: bench/slow_clients.py)."""

from __future__ import annotations

import json
import subprocess
import time

import redis

from bench.slow_clients import StalledClients, signed_delivery
from common.queueing import WEBHOOK_QUEUE
from tests.web.test_serve import SECRET, stop, web  # noqa: F401  (web: the fixture)

STALLED = 1000
DELIVERIES = 20


def test_signed_deliveries_get_202_while_a_thousand_connections_stall(
    web: tuple[subprocess.Popen[str], str],  # noqa: F811
    redis_url: str,
) -> None:
    proc, base = web
    stalled = StalledClients(int(base.rsplit(":", 1)[1]), STALLED).start()
    try:
        time.sleep(1.0)  # every stalled connection accepted by a worker and silent
        for _ in range(DELIVERIES):  # each bounded by bench's 10 s timeout: 0 is no answer
            status, _seconds = signed_delivery(base, SECRET)
            assert status == 202
    finally:
        stalled.stop()
    assert redis.Redis.from_url(redis_url).llen(f"rq:queue:{WEBHOOK_QUEUE}") == DELIVERIES

    status, lines = stop(proc)  # graceful, after the attack too
    assert status == 0
    assert all(json.loads(line) for line in lines)  # every line is still one JSON object
