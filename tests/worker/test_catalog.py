"""What pdgraph reads beyond the on-call chain (issue 21): business services and their
dependencies, integrations and vendors, users' reachability, tags, maintenance windows —
the full sync's graph equals an independent expectation in both graph models, the catalog
refresh and the audit feed keep them current, and no integration key ever leaves
PagerDuty's answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from common.report.checks import build_report
from common.sinks.local import LocalSink
from common.state.freshness import freshness_status
from sim.clock import Clock
from sim.pagerduty import Account
from tests.cli import run_pdgraph
from tests.expected import expected_export
from tests.stack import Stack, configure_env
from worker import jobs

MODELS = ["seed", "jupiterone"]


def catalog_account(clock: Clock) -> Account:
    return Account.generate(seed=7, users=60, clock=clock, catalog=True)


@pytest.mark.parametrize("model", MODELS)
def test_a_full_sync_of_every_new_type_equals_the_expected_graph(
    make_stack: Callable[..., Stack], clock: Clock, model: str
) -> None:
    account = catalog_account(clock)
    stack = make_stack(account, receiver=False, env={"GRAPH_MODEL": model})
    assert stack.read_dependencies()["outcome"] == "ok"
    exported = stack.export()
    assert exported == expected_export(account, model=model)
    assert "pagerduty_service_uses_service" in {r["_type"] for r in exported["relationships"]}
    stack.full_sync()  # it builds the dependencies from the pass's reads: nothing changes
    assert stack.export() == exported
    types = {e["_type"] for e in exported["entities"]}
    assert {"pagerduty_business_service", "pagerduty_service_integration"} <= types
    assert "pagerduty_vendor" in types
    users = [e for e in exported["entities"] if e["_type"] == "pagerduty_user"]
    assert any(u["notifiedOnHighUrgency"] is False for u in users)  # the catalog's three
    assert any("tags" in u for u in users)
    assert any(e.get("inMaintenance") for e in exported["entities"])


def test_the_catalog_refresh_keeps_business_services_tags_and_windows_current(
    make_stack: Callable[..., Stack], clock: Clock
) -> None:
    account = catalog_account(clock)
    stack = make_stack(account, receiver=False)
    stack.read_dependencies()
    users, services = sorted(account.users), sorted(account.services)
    business = sorted(account.catalog.business_services)
    clock.now += 60
    added = account.add_business_service("Storefront", team_id=sorted(account.teams)[0])
    account.add_dependency(("business_service", added), ("service", services[0]))
    account.delete_business_service(business[0])
    tag = account.add_tag("sox")
    account.tag("user", users[0], tag)
    account.tag("escalation_policy", sorted(account.policies)[0], tag)
    account.add_maintenance_window([services[1]], clock.now, clock.now + 3600, "patching")
    result = jobs.light_refresh()  # the feed has not been refused: the catalog only
    stack.drain()  # the service refreshes the window asked for
    assert result["catalog"]["outcome"] == "ok", result
    assert freshness_status(stack.redis)["last_catalog"] == result["catalog"]  # for /status
    stack.read_dependencies()  # the new business service's, first
    assert stack.export() == expected_export(account)


@pytest.mark.parametrize("webhooks", [False, True], ids=["no-webhook", "service-updated"])
def test_integrations_added_and_removed_reach_the_graph_whether_or_not_pagerduty_says_so(
    make_stack: Callable[..., Stack], clock: Clock, webhooks: bool
) -> None:
    """PagerDuty does not document whether an integration's change sends `service.updated`:
    with or without it, the catalog refresh brings the graph to PagerDuty's."""
    account = catalog_account(clock)
    account.integration_webhooks = webhooks
    stack = make_stack(account)
    stack.read_dependencies()
    first = next(iter(account.catalog.integrations.values()))
    account.remove_integration(first["service_id"], first["id"])
    service = sorted(account.services)[-1]
    added = account.add_integration(service, "Grafana alerts")
    assert len(stack.sender.deliveries) == (2 if webhooks else 0)
    stack.drain()
    result = jobs.light_refresh()
    assert result["catalog"]["outcome"] == "ok", result
    exported = stack.export()
    assert exported == expected_export(account)
    keys = {e["_key"] for e in exported["entities"]}
    assert f"integration:{added}" in keys and f"integration:{first['id']}" not in keys


def test_a_webhook_keeps_a_services_maintenance_window_without_reading_the_windows(
    make_stack: Callable[..., Stack], clock: Clock
) -> None:
    """The webhook path takes the window from the last read of the windows (one request
    less per event); the full sync read it."""
    account = catalog_account(clock)
    service = sorted(account.services)[2]
    account.add_maintenance_window([service], clock.now - 600, clock.now + 3600, "patching")
    stack = make_stack(account)
    stack.read_dependencies()
    stack.sim.reset_requests()
    account.update_service(service, name="renamed in maintenance")
    stack.drain()
    entity = next(e for e in stack.export()["entities"] if e["_key"] == f"service:{service}")
    assert entity["name"] == "renamed in maintenance" and entity["inMaintenance"] is True
    assert stack.export() == expected_export(account)
    assert stack.sim.request_counts()["/maintenance_windows"] == 0


def test_a_contact_method_change_reaches_the_graph_through_the_feed_and_the_report(
    make_stack: Callable[..., Stack], clock: Clock
) -> None:
    account = catalog_account(clock)
    stack = make_stack(account, receiver=False)
    stack.read_dependencies()
    oncall = sorted({o["user"]["id"] for o in account.oncalls_now() if o["escalation_level"] == 1})
    user = next(u for u in oncall if account.notification_rules_of(u))
    clock.now += 30
    for rule_id in list(account.notification_rules_of(user)):
        account.remove_notification_rule(user, rule_id)
    stack.poll_feed()
    entity = next(e for e in stack.export()["entities"] if e["_key"] == f"user:{user}")
    assert entity["notifiedOnHighUrgency"] is False
    assert stack.export() == expected_export(account)
    report = build_report(LocalSink(stack.settings.local_graph_path).read_graph(), _now(clock))
    unreachable = [f for f in report["findings"] if f["check"] == "oncall_user_unreachable"]
    assert any(f["keys"] == [f"user:{user}"] for f in unreachable)


def _said(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout) + str(result.stderr)


def _now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.now, UTC)


def test_no_integration_key_reaches_the_graph_the_history_the_logs_or_the_report(
    make_stack: Callable[..., Stack],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    graph_path: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    account = catalog_account(clock)
    secrets = [i["integration_key"] for i in account.catalog.integrations.values()]
    assert secrets  # the account has integrations: this checks something
    stack = make_stack(account, receiver=False)
    service = next(i["service_id"] for i in account.catalog.integrations.values())
    clock.now += 60
    account.add_integration(service, "Another")  # a change: a write and a history entry
    secrets += [i["integration_key"] for i in account.catalog.integrations.values()]
    stack.full_sync()
    env = configure_env(monkeypatch, stack.sim.url, redis_url, graph_path)
    outputs = [
        json.dumps(stack.export()),
        caplog.text,
        *(
            run_pdgraph(*command, env=env).stdout + run_pdgraph(*command, env=env).stderr
            for command in (
                ("changes", "--json"),
                ("report", "--format", "json"),
                ("report", "--format", "html"),
                ("sync", "--dry-run"),
            )
        ),
    ]
    assert sum("integration:" in text for text in outputs[:1]) == 1  # integrations are there
    hits = [(n, s) for n, text in enumerate(outputs) for s in secrets if s in text]
    assert hits == []
    assert all("integration_key" not in text for text in outputs)
