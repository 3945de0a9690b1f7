"""`make demo`: pdgraph end to end on a laptop, against a simulated PagerDuty account.

Finds Redis (REDIS_URL if it answers, else a redis-server of its own, else fakeredis'
TCP server), serves a mid-size simulated account that keeps changing (services renamed,
created and deleted, incidents triggered and escalated, on-call hand-offs every few
minutes) and sends signed webhooks, runs a first full sync, then starts the Procfile's
web, worker and clock with the local SQLite sink. Ctrl-C stops everything it started.

    python -m sim.demo [--users 2000] [--port 8000] [--seconds N]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from sim.jupiterone import JupiterOneSim
from sim.pagerduty import Account, PagerDutySim, WebhookSender
from sim.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[1]
HANDOFF_SECONDS = 180  # on-call shifts in the demo account last three minutes


def find_redis(url: str) -> tuple[str, object | None]:
    """(URL, what to stop later): the configured Redis, a redis-server, or fakeredis."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url, None
    except redis.RedisError:
        pass
    try:
        server = RedisServer().start()
        return server.url, server
    except RuntimeError:
        from fakeredis import TcpFakeServer

        port = free_port()
        fake = TcpFakeServer(("127.0.0.1", port))
        threading.Thread(target=fake.serve_forever, daemon=True).start()
        return f"redis://127.0.0.1:{port}/0", fake


def churn(
    sim: PagerDutySim, sender: WebhookSender, stop: threading.Event, every: float, seed: int = 3
) -> None:
    """Keep the account changing the way a real one does, announcing it by webhook."""
    rng = random.Random(seed)
    account = sim.account
    step = 0
    while not stop.wait(every):
        step += 1
        sender.retry_failed()  # as PagerDuty does for deliveries that got no 2xx
        with sim.lock:
            services = sorted(account.services)
            action = rng.random()
            if action < 0.45 and services:
                sid = rng.choice(services)
                account.update_service(
                    sid, name=f"{account.services[sid]['name'].split(' ·')[0]} · v{step}"
                )
            elif action < 0.55:
                account.add_service(
                    f"new-service-{step}",
                    escalation_policy_id=rng.choice(sorted(account.policies)),
                    team_ids=rng.sample(sorted(account.teams), k=min(2, len(account.teams))),
                )
            elif action < 0.62 and len(services) > 10:
                account.delete_service(rng.choice(services))
            elif action < 0.8 and services:
                account.update_service(
                    rng.choice(services),
                    status=rng.choice(["active", "warning", "critical", "maintenance"]),
                )
            elif services:
                account.trigger_incident(
                    rng.choice(services),
                    rng.choice(["incident.triggered", "incident.escalated", "incident.reassigned"]),
                )


def pump(name: str, proc: subprocess.Popen[bytes]) -> None:
    """Copy a process's output, each line prefixed with its name (like honcho)."""
    assert proc.stdout is not None
    for raw in proc.stdout:
        sys.stdout.write(f"{name:<6} | {raw.decode('utf-8', 'replace')}")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--churn-every", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".demo")
    parser.add_argument(
        "--jupiterone",
        action="store_true",
        help="write the graph to the JupiterOne simulator (GRAPH_SINK=jupiterone)",
    )
    args = parser.parse_args()

    workdir = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    redis_url, redis_owned = find_redis(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    api_key, webhook_secret = "demo-" + secrets.token_hex(8), secrets.token_hex(16)
    account = Account.generate(seed=2026, users=args.users, shift_seconds=HANDOFF_SECONDS)
    sim = PagerDutySim(account, api_key)
    sim.start()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PAGERDUTY_", "GRAPH_", "JUPITERONE_"))
        },
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PAGERDUTY_API_KEY": api_key,
        "PAGERDUTY_API_URL": sim.url,
        "PAGERDUTY_WEBHOOK_SECRETS": webhook_secret,
        "REDIS_URL": redis_url,
        "GRAPH_SINK": "local",
        "LOCAL_GRAPH_PATH": str(workdir / "graph.sqlite3"),
        "PORT": str(args.port),
        "FULL_SYNC_CRON": "*/10 * * * *",
    }
    j1 = None
    if args.jupiterone:
        j1 = JupiterOneSim()
        j1.start()
        env.update(
            GRAPH_SINK="jupiterone",
            JUPITERONE_ACCOUNT_ID=j1.account_id,
            JUPITERONE_API_KEY=j1.api_key,
            JUPITERONE_API_URL=j1.api_url,
            JUPITERONE_GRAPHQL_URL=j1.graphql_url,
        )
        print(f"demo   | JupiterOne simulator at {j1.url}")
    print(
        f"demo   | PagerDuty simulator: {len(account.users):,} users, "
        f"{len(account.services):,} services at {sim.url}"
    )
    print(f"demo   | Redis: {redis_url}")
    first = subprocess.run(
        [str(Path(sys.executable).parent / "pdgraph"), "sync"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"demo   | first full sync: {first.stdout.strip() or first.stderr.strip()}")

    processes = {
        name: subprocess.Popen(
            [str(ROOT / "bin" / "procfile-run"), name],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for name in ("web", "worker", "clock")
    }
    for name, proc in processes.items():
        threading.Thread(target=pump, args=(name, proc), daemon=True).start()
    sender = sim.send_webhooks_to(
        f"http://127.0.0.1:{args.port}/webhooks/pagerduty", [webhook_secret]
    )
    stop = threading.Event()
    threading.Thread(target=churn, args=(sim, sender, stop, args.churn_every), daemon=True).start()

    print(f"demo   | status page:  http://127.0.0.1:{args.port}/status")
    if j1 is not None:
        print(f"demo   | the graph:    curl '{j1.url}/_sim/graph?scope=pagerduty'")
    else:
        print(
            f"demo   | the graph:    LOCAL_GRAPH_PATH={env['LOCAL_GRAPH_PATH']} "
            f".venv/bin/pdgraph export"
        )
    print(f"demo   | metrics:      http://127.0.0.1:{args.port}/metrics")
    print("demo   | Ctrl-C stops everything")
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        deadline = time.monotonic() + args.seconds if args.seconds else None
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if any(proc.poll() is not None for proc in processes.values()):
                print("demo   | a process exited; stopping")
                break
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for proc in processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in processes.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        sim.stop()
        if j1 is not None:
            j1.stop()
        if isinstance(redis_owned, RedisServer):
            redis_owned.stop()
        elif redis_owned is not None:
            redis_owned.shutdown()  # type: ignore[attr-defined]
        print("demo   | stopped")


if __name__ == "__main__":
    main()
