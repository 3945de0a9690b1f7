"""The feed as the processes run it: the clock's job on the webhook queue, taken by a
worker; its mode, last poll, lag and changes on /status and /metrics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import requests
from prometheus_client.parser import text_string_to_metric_families

from common import metrics
from sim.pagerduty import Account
from tests.conftest import API_KEY
from tests.read_tokens import AUTHORIZATION, JSON_AUTHORIZED, READ_TOKEN
from tests.stack import Stack
from worker.clock import enqueue_audit_poll


def test_a_queued_poll_writes_the_change_and_status_and_metrics_show_it(
    make_stack: Callable[..., Stack],
) -> None:
    metrics.recorder.forget()  # counts other tests of this process left in its buffer
    stack = make_stack(Account.generate(seed=4, users=40), env={"READ_TOKENS": READ_TOKEN})
    account = stack.sim.account
    user_id = sorted(account.users)[0]
    account.update_user(user_id, name="Seen Through The Feed")
    assert enqueue_audit_poll(stack.redis, datetime.now(UTC))
    stack.drain()
    assert stack.export_names()[f"user:{user_id}"] == "Seen Through The Feed"
    base = stack.receiver_url.removesuffix("/webhooks/pagerduty")
    status = requests.get(f"{base}/status", headers=JSON_AUTHORIZED, timeout=5)
    people = status.json()["people"]
    assert people["mode"] == "audit"
    assert people["last_poll"]["outcome"] == "ok"
    assert people["last_poll"]["changes_applied"] == 1
    assert people["changes_applied"] == {"audit": 1}
    assert people["lag_s"] is not None
    assert "audit-records poll" in status.json()["next_runs"]
    html = requests.get(f"{base}/status", headers=AUTHORIZATION, timeout=5).text
    assert "Audit-records feed" in html
    metrics.recorder.flush()
    text = requests.get(f"{base}/metrics", headers=AUTHORIZATION, timeout=5).text
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("pdgraph_people_mode", frozenset({("mode", "audit")}))] == 1
    assert samples[("pdgraph_people_mode", frozenset({("mode", "refresh")}))] == 0
    assert samples[("pdgraph_people_changes_total", frozenset({("mode", "audit")}))] == 1
    runs = ("pdgraph_people_runs_total", frozenset({("mode", "audit"), ("outcome", "ok")}))
    assert samples[runs] == 1
    assert ("pdgraph_people_lag_seconds", frozenset()) in samples
    assert API_KEY not in text
