"""Slow-client benchmark: signed deliveries while 1,000 connections stall the receiver.

Runs the Procfile's web process (`python -m web`, gevent workers) and, in the same run,
the same process with gunicorn's gthread workers (2 × 4 threads, what `web` ran before)
as the baseline. Against each: N connections each send a partial request and stay silent
(half stop inside the headers, half inside a body they announced; a connection the
server closes is opened again, as an attacker would), then signed deliveries, each on a
new connection with a fresh X-Webhook-Id, from a few concurrent senders for a bounded
time. Prints deliveries accepted (202) of sent and their p50/p99 latency, and the ratio.

    .venv/bin/python bench/slow_clients.py [--stalled 1000] [--seconds 15] [--senders 4]
                                           [--workers 2] [--no-baseline]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import free_port, start_redis  # noqa: E402

SECRET = "bench-slow-clients-secret"
REQUEST_TIMEOUT = 10.0  # a delivery not answered by then counts as lost (PagerDuty: 5 s)
# What the stalled connections send before falling silent: a request cut inside its
# headers (the one byte, a little longer), and one cut inside its announced body.
PARTIAL_REQUESTS = (
    b"POST /webhooks/pagerduty HTTP/1.1\r\nHost: pdgraph\r\nContent-Type: app",
    b"POST /webhooks/pagerduty HTTP/1.1\r\nHost: pdgraph\r\nContent-Type: application/json"
    b'\r\nContent-Length: 4096\r\n\r\n{"event": {',
)
# The gthread baseline: the web process's settings before gevent (web.serve.serve overrides).
GTHREAD = """
from common.config import load_settings
from web.serve import serve

serve(load_settings(), worker_class="gthread", threads=4)
"""


class StalledClients:
    """`count` connections to 127.0.0.1:`port`, each silent after a partial request; one
    the server closes (or answers) is replaced, until stop()."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.selector = selectors.DefaultSelector()
        self.reopened = 0
        self._stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep_open, daemon=True)

    def start(self) -> StalledClients:
        raise_open_files_limit(self.count + 512)
        for index in range(self.count):
            self._open(index)
        self._keeper.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._keeper.join(5)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()

    def _open(self, index: int) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall(PARTIAL_REQUESTS[index % len(PARTIAL_REQUESTS)])
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, index)

    def _keep_open(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                self.selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
                if not self._stop.is_set():
                    try:
                        self._open(key.data)
                        self.reopened += 1
                    except OSError:
                        pass


def raise_open_files_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def signed_delivery(base: str, secret: str = SECRET) -> tuple[int, float]:
    """POST one signed delivery on a new connection: its status (0: no answer) and seconds."""
    body = json.dumps(
        {"event": {"id": uuid.uuid4().hex, "event_type": "service.updated"}},
        separators=(",", ":"),
    ).encode()
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-PagerDuty-Signature": signature,
        "X-Webhook-Id": uuid.uuid4().hex,
        "Content-Type": "application/json",
        "Connection": "close",
    }
    started = time.perf_counter()
    try:
        status = requests.post(
            f"{base}/webhooks/pagerduty", data=body, headers=headers, timeout=REQUEST_TIMEOUT
        ).status_code
    except requests.RequestException:
        status = 0
    return status, time.perf_counter() - started


def wait_until_serving(proc: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            requests.get(f"{base}/healthz", timeout=1)
            time.sleep(1.0)  # let the other workers reach their accept loop
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("the web process did not serve /healthz")


def run(command: list[str], env: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    """Deliveries against `command` under args.stalled stalled connections."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        command, env={**env, "PORT": str(port)}, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    try:
        wait_until_serving(proc, base)
        stalled = StalledClients(port, args.stalled).start()
        time.sleep(1.0)  # every stalled connection accepted and waiting
        results: list[tuple[int, float]] = []
        deadline = time.monotonic() + args.seconds

        def sender() -> None:
            while time.monotonic() < deadline:
                results.append(signed_delivery(base))

        with ThreadPoolExecutor(args.senders) as pool:
            for _ in range(args.senders):
                pool.submit(sender)
        reopened = stalled.reopened
        stalled.stop()
    finally:
        proc.terminate()
        proc.wait(40)
    latencies = sorted(seconds for status, seconds in results if status == 202)
    return {
        "sent": len(results),
        "accepted": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "reopened": reopened,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="signed deliveries under stalled connections")
    parser.add_argument("--stalled", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15, help="how long deliveries are sent")
    parser.add_argument("--senders", type=int, default=4, help="concurrent deliveries")
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY")
    parser.add_argument("--no-baseline", action="store_true", help="skip the gthread run")
    args = parser.parse_args()

    redis_proc, redis_url = start_redis()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERDUTY_", "REDIS_"))}
    env.update(
        REDIS_URL=redis_url,
        PAGERDUTY_WEBHOOK_SECRETS=SECRET,
        LOG_LEVEL="WARNING",
        WEB_CONCURRENCY=str(args.workers),
    )
    runs = {"python -m web (gevent)": [sys.executable, "-m", "web"]}
    if not args.no_baseline:
        runs["gthread 2 x 4 baseline"] = [sys.executable, "-c", GTHREAD]
    try:
        results = {name: run(command, env, args) for name, command in runs.items()}
    finally:
        redis_proc.stop()
    print(
        f"{args.stalled} stalled connections (partial requests, reopened when closed), "
        f"{args.senders} senders of signed deliveries for {args.seconds:g} s, "
        f"{REQUEST_TIMEOUT:g} s timeout each, WEB_CONCURRENCY={args.workers}"
    )
    for name, r in results.items():
        print(
            f"  {name:<24} {r['accepted']:5d} accepted (202) of {r['sent']:5d} sent  "
            f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
            f"(stalled connections reopened: {r['reopened']})"
        )
    if len(results) == 2:
        ours, baseline = results.values()
        print(
            f"  ratio accepted gevent/gthread: {ours['accepted']}/{baseline['accepted']}"
            f" = {ours['accepted'] / max(baseline['accepted'], 1):.1f}"
        )


if __name__ == "__main__":
    main()
