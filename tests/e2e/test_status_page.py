"""/status in a real browser (headless Chromium): what a person sees. Run by `make e2e`."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from html import unescape
from pathlib import Path

import pytest
import redis
from rq import Queue

from sim.pagerduty import Account, PagerDutySim
from tests.read_tokens import READ_TOKEN
from tests.stack import Stack, configure_env
from worker.rqworker import PromptSimpleWorker

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def visible_text(html: str) -> str:
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_a_person_sees_queues_webhook_sync_and_graph(
    make_sim: Callable[..., PagerDutySim],
    redis_url: str,
    redis_client: redis.Redis,
    graph_path: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    sim = make_sim(Account.generate(seed=31, users=50))
    configure_env(monkeypatch, sim.url, redis_url, graph_path)
    monkeypatch.setenv("READ_TOKENS", READ_TOKEN)
    from common.config import Settings

    stack = Stack(sim, redis_client, Settings())
    stack.start_receiver()
    try:
        stack.full_sync()
        service_id = sorted(sim.account.services)[0]
        sim.account.update_service(service_id, name="Renamed for the status page")
        stack.drain()
        broken = Queue("pdgraph-webhooks", connection=redis_client)
        broken.enqueue("builtins.int", "x", job_id="webhook-broken")
        PromptSimpleWorker([broken], connection=redis_client).work(burst=True)

        # The token as basic auth's password in the URL, as `make demo` prints it.
        base = stack.receiver_url.removesuffix("/webhooks/pagerduty")
        url = base.replace("http://", f"http://auditor:{READ_TOKEN}@") + "/status"
        profile = tmp_path / "chromium-profile"
        common = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=3000"]
        dom = subprocess.run(
            [*common, "--dump-dom", url], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        subprocess.run(
            [*common, "--window-size=1100,1200", f"--screenshot={tmp_path / 'status.png'}", url],
            capture_output=True,
            timeout=60,
            check=True,
        )
    finally:
        stack.stop()

    text = visible_text(dom)
    assert "pdgraph status" in text
    assert "1 failed job: see pdgraph failed" in text
    assert f"service.updated for {service_id}, received" in text
    assert re.search(r"ok , started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, took [\d.]+ s", text)
    assert "pagerduty_user 50" in text
    # queued, running, scheduled (the next on-call hand-off refreshes), failed
    assert re.search(r"pdgraph-webhooks 0 0 \d+ 1", text)
    assert re.search(r"full sync \d{4}-\d\d-\d\dT03:00:00Z", text)
    assert re.search(r"on-call hand-off refresh \d{4}-\d\d-\d\dT", text)
    assert (tmp_path / "status.png").stat().st_size > 10_000  # a page was rendered
    shutil.copy(tmp_path / "status.png", Path(__file__).parent / "last-status.png")
