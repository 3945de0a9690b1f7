"""`make demo`: pdgraph end to end on a laptop, against a simulated PagerDuty account.

Starts a Redis of its own (a redis-server on a free port, else fakeredis' TCP server; never
the one at REDIS_URL, which may hold someone's data), serves a mid-size simulated account
that keeps changing (services renamed, created and deleted, incidents triggered and
escalated, on-call hand-offs every few minutes; a user or team change every 20 s, printed
with who made it, which PagerDuty announces only in its audit records) and sends signed
webhooks, runs a first full sync, then starts web, worker and clock as the Procfile says,
with the local SQLite sink. The account has an example of every finding of `pdgraph report`
planted in it (sim/demo_changes.py), and the demo prints the line that points the CLI at
it. Ctrl-C stops the processes first (the worker finishes its job), then the simulators and
Redis.

    python -m sim.demo [--users 2000] [--port 8000] [--seconds N] [--redis-url URL]
                       [--people-every 20]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import redis

from sim.demo_changes import DemoAccount, PeopleChanges, ServiceChurn, demo_account
from sim.demo_output import print_planted, print_where_to_look, redis_location, say
from sim.jupiterone import JupiterOneSim
from sim.pagerduty import PagerDutySim, WebhookSender
from sim.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[1]
HANDOFF_SECONDS = 180  # on-call shifts in the demo account last three minutes
CHURN_SECONDS = 2.0  # a service change (or incident) this often
PEOPLE_SECONDS = 20.0  # a user or team change this often
PROCESSES = ("web", "worker", "clock")  # the Procfile's processes, started in this order
STOP_SECONDS = 20  # how long a process may take to stop before it is killed
AUDIT_POLL_SECONDS = 30  # pdgraph's audit-records poll; a brief admin falls within one


class DemoError(Exception):
    """The demo cannot start; the message is the one line the user sees."""


def check_port_free(port: int) -> None:
    """Fail before anything starts if gunicorn could not bind `port` (as it binds it)."""
    with socket.socket() as probe:
        # gunicorn sets SO_REUSEADDR too: a port in TIME_WAIT from the last run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            raise DemoError(
                f"port {port} is taken; run the demo on another one: PORT={port + 1} make demo"
            ) from None


def existing_empty_redis(url: str) -> str:
    """`--redis-url`: used only if it answers and its database holds no key at all."""
    try:
        keys = redis.Redis.from_url(url, socket_connect_timeout=2).dbsize()
    except (redis.RedisError, ValueError) as exc:
        raise DemoError(
            f"--redis-url {redis_location(url)} does not answer ({type(exc).__name__})"
        ) from None
    if keys:
        raise DemoError(
            f"--redis-url {redis_location(url)} holds {keys} key{'s' * (keys != 1)}; the demo "
            "writes only into an empty database (or leave --redis-url out: it starts its own)"
        )
    return url


def own_redis(stack: ExitStack) -> str:
    """A throwaway redis-server on a free port, else fakeredis' TCP server; stopped last."""
    try:
        server = RedisServer().start()
    except RuntimeError:
        from fakeredis import TcpFakeServer

        port = free_port()
        fake = TcpFakeServer(("127.0.0.1", port))
        threading.Thread(target=fake.serve_forever, daemon=True).start()
        stack.callback(fake.server_close)
        stack.callback(fake.shutdown)
        return f"redis://127.0.0.1:{port}/0"
    stack.callback(server.stop)
    return server.url


def churn(
    sim: PagerDutySim,
    demo: DemoAccount,
    sender: WebhookSender,
    stop: threading.Event,
    every: float,
) -> None:
    """Keep the account's services changing the way a real one's do, announced by webhook."""
    changes = ServiceChurn(demo)
    while not stop.wait(every):
        sender.retry_failed()  # as PagerDuty does for deliveries that got no 2xx
        with sim.lock:
            changes.step()


def change_people(
    sim: PagerDutySim, demo: DemoAccount, stop: threading.Event, every: float, poll: float
) -> None:
    """A user or team change every `every` s (sim/demo_changes.py), each printed."""
    changes = PeopleChanges(demo, poll_seconds=poll)
    while not stop.wait(changes.seconds_until_next(sim.account.clock(), every)):
        with sim.lock:
            line = changes.step()
        say(f"people change: {line}")


def pump(name: str, proc: subprocess.Popen[bytes]) -> None:
    """Copy a process's output, each line prefixed with its name (like honcho)."""
    assert proc.stdout is not None
    for raw in proc.stdout:
        sys.stdout.write(f"{name:<6} | {raw.decode('utf-8', 'replace')}")
        sys.stdout.flush()


def start_process(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own: the terminal's Ctrl-C reaches only the demo, which then stops
    # each process in order (the worker before the Redis it works from).
    return subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_processes(processes: dict[str, subprocess.Popen[bytes]], pumps: list[Any]) -> None:
    """SIGTERM to each process itself (gunicorn's master, RQ's worker: a warm shutdown that
    finishes the running job), never to its group: they stop their own children."""
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for name, proc in processes.items():
        try:
            proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in {STOP_SECONDS} s; killing it")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for thread in pumps:
        thread.join(5)


def start_procfile(env: dict[str, str], stack: ExitStack) -> dict[str, subprocess.Popen[bytes]]:
    """web, worker and clock, each its Procfile line (read now, through bin/procfile-run)."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    pumps: list[threading.Thread] = []
    stack.callback(stop_processes, processes, pumps)
    for name in PROCESSES:
        processes[name] = start_process([str(ROOT / "bin" / "procfile-run"), name], env)
        pumps.append(threading.Thread(target=pump, args=(name, processes[name]), daemon=True))
        pumps[-1].start()
    return processes


def first_sync(env: dict[str, str], stop: threading.Event) -> str:
    """`pdgraph sync`, stopped if the demo is (Ctrl-C during it); its summary line."""
    proc = start_process([str(Path(sys.executable).parent / "pdgraph"), "sync"], env)
    outcome: list[bytes] = []
    reader = threading.Thread(target=lambda: outcome.append(proc.communicate()[0]), daemon=True)
    reader.start()
    while reader.is_alive() and not stop.wait(0.2):
        pass
    if stop.is_set() and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    reader.join()
    lines = b"".join(outcome).decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"exit {proc.returncode}"


def demo_environment(redis_url: str, sim: PagerDutySim, secret: str, args: Any) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAGERDUTY_", "GRAPH_", "JUPITERONE_", "REDIS_", "READ_TOKENS"))
    }
    return {
        **inherited,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PAGERDUTY_API_KEY": sim.api_key,
        "PAGERDUTY_API_URL": sim.url,
        "PAGERDUTY_WEBHOOK_SECRETS": secret,
        "READ_TOKENS": args.read_token,
        "REDIS_URL": redis_url,
        "GRAPH_SINK": "local",
        "LOCAL_GRAPH_PATH": str(args.workdir / "graph.sqlite3"),
        "PORT": str(args.port),
        "FULL_SYNC_CRON": "*/10 * * * *",
        "AUDIT_POLL_SECONDS": str(AUDIT_POLL_SECONDS),
    }


def start_jupiterone(env: dict[str, str], stack: ExitStack) -> JupiterOneSim:
    j1 = JupiterOneSim()
    j1.start()
    stack.callback(j1.stop)
    env.update(
        GRAPH_SINK="jupiterone",
        JUPITERONE_ACCOUNT_ID=j1.account_id,
        JUPITERONE_API_KEY=j1.api_key,
        JUPITERONE_API_URL=j1.api_url,
        JUPITERONE_GRAPHQL_URL=j1.graphql_url,
    )
    say(f"JupiterOne simulator at {j1.url}")
    return j1


def run(args: argparse.Namespace, stop: threading.Event, stack: ExitStack) -> int:
    """Start everything, each stop registered on `stack` (it unwinds in reverse order);
    the exit status: 0 when stopped by Ctrl-C or --seconds, 1 when a process died."""
    check_port_free(args.port)
    args.workdir.mkdir(parents=True, exist_ok=True)
    # A fresh Redis each run, so a fresh graph too (the last run's would not match it).
    for stale in args.workdir.glob("graph.sqlite3*"):
        stale.unlink()
    redis_url = existing_empty_redis(args.redis_url) if args.redis_url else own_redis(stack)
    if os.environ.get("REDIS_URL") and not args.redis_url:
        say("REDIS_URL is left alone; --redis-url URL would use that Redis if it is empty")
    say(f"Redis: {redis_location(redis_url)}")
    demo = demo_account(args.users, shift_seconds=HANDOFF_SECONDS)
    account = demo.account
    sim = PagerDutySim(account, "demo-" + secrets.token_hex(8))
    sim.start()
    stack.callback(sim.stop)
    secret = secrets.token_hex(16)
    env = demo_environment(redis_url, sim, secret, args)
    j1 = start_jupiterone(env, stack) if args.jupiterone else None
    say(
        f"PagerDuty simulator: {len(account.users):,} users, "
        f"{len(account.services):,} services at {sim.url}"
    )
    say(f"first full sync: {first_sync(env, stop)}")
    if stop.is_set():
        return 0
    processes = start_procfile(env, stack)
    sender = sim.send_webhooks_to(f"http://127.0.0.1:{args.port}/webhooks/pagerduty", [secret])
    churner = threading.Thread(target=churn, args=(sim, demo, sender, stop, args.churn_every))
    churner.start()
    stack.callback(churner.join)
    people = threading.Thread(
        target=change_people,
        args=(sim, demo, stop, args.people_every, int(env["AUDIT_POLL_SECONDS"])),
    )
    people.start()
    stack.callback(people.join)
    stack.callback(stop.set)  # the account stops changing before the processes stop
    with sim.lock:  # the account is changing already
        print_planted(demo)
    print_where_to_look(args.port, env, j1, demo)
    deadline = time.monotonic() + args.seconds if args.seconds else None
    while not stop.wait(0.5):
        if deadline is not None and time.monotonic() >= deadline:
            return 0
        exited = [name for name, proc in processes.items() if proc.poll() is not None]
        if exited:
            say(f"{', '.join(exited)} exited; stopping")
            return 1
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--churn-every", type=float, default=CHURN_SECONDS)
    parser.add_argument(
        "--people-every",
        type=float,
        default=PEOPLE_SECONDS,
        help="seconds between user/team changes",
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / ".demo")
    parser.add_argument(
        "--read-token",
        default=secrets.token_urlsafe(24),
        help="the READ_TOKENS token that opens /status, /report, /changes, /metrics "
        "(default: a new random one, printed)",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="use this Redis instead of starting one; only if its database is empty",
    )
    parser.add_argument(
        "--jupiterone",
        action="store_true",
        help="write the graph to the JupiterOne simulator (GRAPH_SINK=jupiterone)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    stop = threading.Event()
    on_signal: Callable[[int, Any], None] = lambda *_: stop.set()  # noqa: E731
    signal.signal(signal.SIGINT, on_signal)  # Ctrl-C: the orderly stop, not a traceback
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with ExitStack() as stack:
            status = run(args, stop, stack)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    say("stopped")
    raise SystemExit(status)


if __name__ == "__main__":
    main()
