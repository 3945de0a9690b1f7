"""`make demo` shows every finding of the report: its account has an example of each check
planted, true through the demo's first 10 minutes of changes; its people changes are made by
named actors, a brief admin granted and revoked between two audit polls; and it prints the
line that points the CLI at it, which works."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from common.clients.pagerduty import PagerDutyClient
from common.objects import build_graph
from common.objects.account import read_account
from common.objects.service_dependency import read_dependents
from common.report.checks import CHECKS, build_report
from sim.clock import Clock
from sim.demo import (
    AUDIT_POLL_SECONDS,
    CHURN_SECONDS,
    HANDOFF_SECONDS,
    PEOPLE_SECONDS,
    demo_environment,
)
from sim.demo_changes import DemoAccount, PeopleChanges, ServiceChurn, demo_account
from sim.demo_output import cli_exports
from sim.pagerduty import PagerDutySim
from tests.cli import run_pdgraph
from tests.conftest import API_KEY
from tests.sim.test_pagerduty_spec import assert_conforms, get

USERS = 200  # the planted findings do not depend on the account's size (demo: 2000)
MINUTES = 10


def report_now(sim: PagerDutySim, now: float) -> dict[str, Any]:
    """The report of the graph a full sync would build now, once the dependency pass read
    every dependency: the sync's read of the account (common.objects.account) and its
    transform, at the simulator's time."""
    at = datetime.fromtimestamp(now, UTC)
    client = PagerDutyClient(API_KEY, sim.url)
    snapshot = read_account(client, now=at)
    # and what the dependency pass has read of every service and business service
    dependents = [f"service:{s['id']}" for s in snapshot.listings["services"]]
    dependents += [f"business_service:{b['id']}" for b in snapshot.listings["business_services"]]
    snapshot.listings["service_dependencies"] = read_dependents(client, dependents)
    graph = build_graph(snapshot.consuming(), snapshot.build(None))
    return build_report(graph, at)


def planted_found(report: dict[str, Any], demo: DemoAccount) -> dict[str, bool]:
    """Check → whether one of its findings names the example planted for it."""
    return {
        check: any(f["check"] == check and set(keys) <= set(f["keys"]) for f in report["findings"])
        for check, keys in demo.findings.items()
    }


class DemoChanges:
    """The demo's service churn and people changes, each at its own pace (as the demo's
    threads make them), on the simulator's clock."""

    def __init__(self, demo: DemoAccount, clock: Clock) -> None:
        self.clock = clock
        self.churn = ServiceChurn(demo)
        self.people = PeopleChanges(demo, poll_seconds=AUDIT_POLL_SECONDS)
        first_people = self.people.seconds_until_next(clock.now, PEOPLE_SECONDS)
        self.due = [(clock.now + CHURN_SECONDS, "churn"), (clock.now + first_people, "people")]

    def run_until(self, until: float) -> None:
        while min(self.due)[0] <= until:
            at, which = min(self.due)
            self.due.remove((at, which))
            self.clock.now = at
            if which == "churn":
                self.churn.step()
                self.due.append((at + CHURN_SECONDS, which))
            else:
                self.people.step()
                wait = self.people.seconds_until_next(at, PEOPLE_SECONDS)
                self.due.append((at + wait, which))
        self.clock.now = until


def test_every_check_fires_on_the_demo_account_through_its_first_ten_minutes(
    make_sim: Callable[..., PagerDutySim], clock: Clock
) -> None:
    demo = demo_account(USERS, shift_seconds=HANDOFF_SECONDS, clock=clock)
    sim = make_sim(demo.account)
    assert set(demo.findings) == set(CHECKS)  # an example for each of the report's checks
    start = clock.now
    changes = DemoChanges(demo, clock)
    found: dict[int, dict[str, bool]] = {}
    for minute in range(MINUTES + 1):
        changes.run_until(start + minute * 60)
        found[minute] = planted_found(report_now(sim, clock.now), demo)
    missing = {m: [c for c, ok in checks.items() if not ok] for m, checks in found.items()}
    assert missing == {minute: [] for minute in range(MINUTES + 1)}
    # the changes did run: people changes and service churn both wrote audit records
    actors = {r["actors"][0]["type"] for r in demo.account.audit.records}
    assert actors == {"user_reference", "api_key_reference", "app_reference"}


@pytest.mark.parametrize("phase", [0.0, 7.0, 13.5, 29.9], ids=lambda p: f"{p:g}s-into-a-poll")
def test_a_brief_admin_is_granted_and_revoked_between_two_audit_polls_by_a_named_user(
    make_sim: Callable[..., PagerDutySim], clock: Clock, phase: float
) -> None:
    clock.now += phase - clock.now % AUDIT_POLL_SECONDS  # the demo starts anywhere in a poll
    demo = demo_account(USERS, shift_seconds=HANDOFF_SECONDS, clock=clock)
    sim = make_sim(demo.account)
    start = clock.now
    DemoChanges(demo, clock).run_until(start + MINUTES * 60)
    since = datetime.fromtimestamp(start - 1, UTC).isoformat()
    body = assert_conforms(
        get(sim, "/audit/records", since=since, limit=1000, **{"root_resource_types[]": "users"}),
        "audit_records",
    )
    roles = [
        r
        for r in reversed(body["records"])
        if r["action"] == "update"
        and any(f["name"] == "role" for f in r["details"].get("fields") or [])
    ]
    assert len(roles) >= 2 * 2, "at least two grant-and-revoke pairs in ten minutes"
    grace = demo.admin.id
    assert demo.account.users[grace]["name"] == "Grace Hopper"
    for granted, revoked in zip(roles[::2], roles[1::2], strict=True):
        assert granted["root_resource"]["id"] == revoked["root_resource"]["id"]
        [grant] = granted["details"]["fields"]
        [revoke] = revoked["details"]["fields"]
        assert (grant["value"], revoke["before_value"]) == ("admin", "admin")
        assert revoke["value"] == grant["before_value"] != "admin"
        for record in (granted, revoked):
            assert record["actors"] == [
                {
                    "id": grace,
                    "type": "user_reference",
                    "summary": "Grace Hopper",
                    "self": f"https://sim.pagerduty.test/users/{grace}",
                    "html_url": f"https://acme.pagerduty.test/users/{grace}",
                }
            ]
            assert record["method"] == {"type": "browser", "truncated_token": None}
        # pdgraph's clock queues a poll at each multiple of AUDIT_POLL_SECONDS: none between
        times = [
            datetime.fromisoformat(r["execution_time"]).timestamp() for r in (granted, revoked)
        ]
        assert times[0] < times[1]
        assert times[0] // AUDIT_POLL_SECONDS == times[1] // AUDIT_POLL_SECONDS
        assert times[0] % AUDIT_POLL_SECONDS >= 5  # well after a poll is queued
    # the other people changes are other actors' and by other means
    means = {(r["actors"][0]["summary"], r["method"]["type"]) for r in body["records"]}
    assert {
        ("Terraform Cloud", "api_token"),
        ("Grace Hopper", "browser"),
        ("Grace Hopper", "api_token"),
    } <= means


def test_the_printed_cli_line_runs_the_report_against_the_demo(
    make_sim: Callable[..., PagerDutySim], redis_url: str, tmp_path: Path
) -> None:
    demo = demo_account(USERS, shift_seconds=HANDOFF_SECONDS)  # the demo's own clock
    sim = make_sim(demo.account)
    args = argparse.Namespace(read_token="read-token-" + "r" * 24, workdir=tmp_path, port=8000)
    env = demo_environment(redis_url, sim, "webhook-secret-" + "s" * 24, args)
    line = cli_exports(env)
    words = shlex.split(line)
    assert words[0] == "export"
    exported = dict(word.split("=", 1) for word in words[1:])
    assert set(exported) == {
        "PAGERDUTY_API_KEY",
        "PAGERDUTY_API_URL",
        "REDIS_URL",
        "GRAPH_SINK",
        "LOCAL_GRAPH_PATH",
        "AUDIT_POLL_SECONDS",
    }
    assert exported["PAGERDUTY_API_KEY"] == sim.api_key  # the simulator's key: meant to print
    assert all(exported[name] == env[name] for name in exported)
    assert "webhook-secret-" not in line and "read-token-" not in line
    # Pasted into a shell, it is all the CLI needs: sync, the dependencies (the demo's
    # clock reads them in its first minutes), then the report finds the planted.
    synced = run_pdgraph("sync", env=exported)
    assert synced.returncode == 0, synced.stderr
    read = run_pdgraph("dependencies", "--all", env=exported)
    assert read.returncode == 0, read.stderr
    assert read.stdout.startswith("dependencies: read "), read.stdout
    result = run_pdgraph("report", "--format", "json", env=exported)
    assert result.returncode == 0, result.stderr
    found = planted_found(json.loads(result.stdout), demo)
    assert [check for check, ok in found.items() if not ok] == []


def test_a_redis_password_is_never_printed(
    make_sim: Callable[..., PagerDutySim], tmp_path: Path
) -> None:
    sim = make_sim()
    args = argparse.Namespace(read_token="read-token-" + "r" * 24, workdir=tmp_path, port=8000)
    env = demo_environment("redis://:hunter2-secret@127.0.0.1:6390/3", sim, "s" * 32, args)
    line = cli_exports(env)
    assert "hunter2" not in line
    assert "REDIS_URL=redis://127.0.0.1:6390/3" in line
