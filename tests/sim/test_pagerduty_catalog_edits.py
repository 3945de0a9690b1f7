"""Changing the simulator's catalog (Account.add_business_service & co.) changes what the
API serves, as PagerDuty does: dependencies both ways and gone with either end,
maintenance windows by state on the account's clock, tags on users, teams and policies;
and none of it writes an audit record (PagerDuty's contract: no webhook, no record)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from sim.pagerduty.audit import api_key_actor
from sim.pagerduty.generate_catalog import populate_catalog
from tests.sim.test_pagerduty_spec import assert_conforms, get

HOUR = 3600


@pytest.fixture
def edit_sim(make_sim: Callable[..., PagerDutySim], clock: Clock) -> PagerDutySim:
    return make_sim(Account.generate(seed=7, users=30, clock=clock))


def business(sim: PagerDutySim, bid: str) -> dict[str, Any]:
    body = assert_conforms(get(sim, f"/business_services/{bid}"), "business_services_id")
    result: dict[str, Any] = body["business_service"]
    return result


def relationships(sim: PagerDutySim, kind: str, node_id: str) -> set[tuple[str, str, str, str]]:
    path = f"/service_dependencies/{kind}/{node_id}"
    name = f"service_dependencies_{kind}_id"
    body = assert_conforms(get(sim, path), name)
    return {
        (
            r["dependent_service"]["type"],
            r["dependent_service"]["id"],
            r["supporting_service"]["type"],
            r["supporting_service"]["id"],
        )
        for r in body["relationships"]
    }


def test_a_business_service_is_added_changed_and_deleted(edit_sim: PagerDutySim) -> None:
    a = edit_sim.account
    team = next(iter(a.teams))
    bid = a.add_business_service("Checkout", point_of_contact="Ada", team_id=team)
    served = business(edit_sim, bid)
    assert (served["name"], served["point_of_contact"], served["team"]["id"]) == (
        "Checkout",
        "Ada",
        team,
    )
    assert served["team"]["type"] == "team_reference" and served["description"] is None
    a.update_business_service(bid, description="Pay for it", team_id=None)
    assert (business(edit_sim, bid)["description"], business(edit_sim, bid)["team"]) == (
        "Pay for it",
        None,
    )
    with pytest.raises(ValueError, match="not a business service field"):
        a.update_business_service(bid, colour="red")
    with pytest.raises(KeyError):
        a.add_business_service("Nobody's", team_id="PNOPE00")
    a.update_business_service(bid, team_id=team)
    a.delete_team(team)  # its business services keep going, owned by no team
    assert business(edit_sim, bid)["team"] is None
    a.delete_business_service(bid)
    assert get(edit_sim, f"/business_services/{bid}").status_code == 404


def test_dependencies_show_from_both_ends_and_go_with_either(edit_sim: PagerDutySim) -> None:
    a = edit_sim.account
    s1, s2 = list(a.services)[:2]
    checkout, shop = a.add_business_service("Checkout"), a.add_business_service("Shop")
    a.add_dependency(("business_service", shop), ("business_service", checkout))
    a.add_dependency(("business_service", checkout), ("service", s1))
    a.add_dependency(("service", s1), ("service", s2))
    bs, tech = "business_service_reference", "technical_service_reference"
    assert relationships(edit_sim, "business_services", checkout) == {
        (bs, shop, bs, checkout),
        (bs, checkout, tech, s1),
    }
    assert relationships(edit_sim, "technical_services", s1) == {
        (bs, checkout, tech, s1),
        (tech, s1, tech, s2),
    }
    assert relationships(edit_sim, "technical_services", s2) == {(tech, s1, tech, s2)}
    with pytest.raises(ValueError, match="already"):
        a.add_dependency(("business_service", checkout), ("service", s1))
    with pytest.raises(ValueError, match="itself"):
        a.add_dependency(("service", s1), ("service", s1))
    with pytest.raises(ValueError, match="business_service or service"):
        a.add_dependency(("team", s1), ("service", s2))
    with pytest.raises(KeyError):
        a.add_dependency(("business_service", s1), ("service", s2))  # not a business service
    a.remove_dependency(("service", s1), ("service", s2))
    assert relationships(edit_sim, "technical_services", s2) == set()
    a.delete_service(s1)
    assert relationships(edit_sim, "business_services", checkout) == {(bs, shop, bs, checkout)}
    a.delete_business_service(checkout)
    assert relationships(edit_sim, "business_services", shop) == set()
    assert a.catalog.dependencies == {}


def test_integrations_are_added_and_removed(edit_sim: PagerDutySim) -> None:
    a = edit_sim.account
    sid, other = list(a.services)[:2]
    assert get(edit_sim, f"/services/{sid}").json()["service"]["integrations"] == []
    iid = a.add_integration(
        sid, "Datadog", type="events_api_v2_inbound_integration", vendor_id="PVDTDG1"
    )
    email = a.add_integration(sid, "Email", type="generic_email_inbound_integration")
    served = get(edit_sim, f"/services/{sid}", **{"include[]": "integrations"}).json()["service"]
    first, second = served["integrations"]
    assert (first["id"], first["vendor"]["summary"], second["id"]) == (iid, "Datadog", email)
    assert second["vendor"] is None and second["integration_email"].endswith(".pagerduty.test")
    assert first["integration_key"] != second["integration_key"]
    with pytest.raises(KeyError):
        a.remove_integration(other, iid)  # not that service's
    with pytest.raises(ValueError, match="integration type"):
        a.add_integration(sid, "Odd", type="carrier_pigeon_inbound_integration")
    a.remove_integration(sid, iid)
    refs = get(edit_sim, f"/services/{sid}").json()["service"]["integrations"]
    assert [r["id"] for r in refs] == [email]
    a.delete_service(sid)
    assert a.catalog.integrations == {}


def test_tags_on_users_teams_and_policies(edit_sim: PagerDutySim) -> None:
    a = edit_sim.account
    user, team, policy = next(iter(a.users)), next(iter(a.teams)), next(iter(a.policies))
    prod, eu = a.add_tag("production"), a.add_tag("eu-west")
    for kind, oid in (("user", user), ("team", team), ("escalation_policy", policy)):
        a.tag(kind, oid, prod)
    a.tag("user", user, eu)
    a.tag("user", user, eu)  # already: nothing changes
    labels = [t["label"] for t in get(edit_sim, f"/users/{user}/tags").json()["tags"]]
    assert labels == ["eu-west", "production"]
    assert [t["label"] for t in get(edit_sim, "/tags", query="PROD").json()["tags"]] == [
        "production"
    ]
    for plural, oid in (("users", user), ("teams", team), ("escalation_policies", policy)):
        assert [r["id"] for r in get(edit_sim, f"/tags/{prod}/{plural}").json()[plural]] == [oid]
    with pytest.raises(ValueError, match="exists"):
        a.add_tag("Production")
    with pytest.raises(ValueError, match="tagged"):
        a.tag("service", next(iter(a.services)), prod)
    a.untag("user", user, eu)
    assert [t["id"] for t in get(edit_sim, f"/users/{user}/tags").json()["tags"]] == [prod]
    a.delete_user(user)
    assert get(edit_sim, f"/tags/{prod}/users").json()["users"] == []
    a.delete_tag(prod)
    assert get(edit_sim, f"/teams/{team}/tags").json()["tags"] == []
    assert get(edit_sim, f"/tags/{prod}").status_code == 404


def windows(sim: PagerDutySim, **params: Any) -> list[str]:
    body = assert_conforms(get(sim, "/maintenance_windows", **params), "maintenance_windows")
    return [w["id"] for w in body["maintenance_windows"]]


def test_maintenance_windows_by_state_on_the_accounts_clock(
    edit_sim: PagerDutySim, clock: Clock
) -> None:
    a = edit_sim.account
    s1, s2 = list(a.services)[:2]
    now = clock.now
    soon = a.add_maintenance_window([s1], now - HOUR, now + HOUR, "Upgrade")  # starts now
    later = a.add_maintenance_window([s1, s2], now + 2 * HOUR, now + 3 * HOUR)
    assert a.catalog.maintenance_windows[soon]["start"] == now
    assert windows(edit_sim, filter="ongoing") == [soon]
    assert windows(edit_sim, filter="future") == [later]
    assert windows(edit_sim, filter="open") == windows(edit_sim) == [soon, later]
    assert windows(edit_sim, filter="past") == []
    assert windows(edit_sim, **{"service_ids[]": s2}) == [later]
    assert windows(edit_sim, query="upgr") == [soon]
    clock.now += 2.5 * HOUR
    assert (windows(edit_sim, filter="past"), windows(edit_sim, filter="open")) == ([soon], [later])
    body = assert_conforms(get(edit_sim, "/maintenance_windows", filter="soon"), "error_400", 400)
    assert body["error"]["code"] == 2001
    with pytest.raises(ValueError, match="end in the future"):
        a.add_maintenance_window([s1], clock.now - 2 * HOUR, clock.now - HOUR)
    with pytest.raises(ValueError, match="ended"):
        a.delete_maintenance_window(soon)
    a.delete_maintenance_window(later)  # ongoing: it ends now
    assert windows(edit_sim, filter="past") == [soon, later]
    future = a.add_maintenance_window([s2], clock.now + HOUR, clock.now + 2 * HOUR)
    a.delete_maintenance_window(future)  # not begun: it is gone
    assert future not in a.catalog.maintenance_windows


def test_a_windows_teams_are_its_services_and_it_goes_with_them(edit_sim: PagerDutySim) -> None:
    a = edit_sim.account
    sid = next(s for s, service in a.services.items() if service["team_ids"])
    wid = a.add_maintenance_window([sid], a.clock(), a.clock() + HOUR)
    served = get(edit_sim, f"/maintenance_windows/{wid}").json()["maintenance_window"]
    assert [t["id"] for t in served["teams"]] == a.services[sid]["team_ids"]
    team = a.services[sid]["team_ids"][0]
    assert windows(edit_sim, **{"team_ids[]": team}) == [wid]
    assert served["created_by"]["type"] == "user_reference"
    with a.acting_as(api_key_actor("PKEY001", "Terraform", token="secret-Yx3")):
        by_key = a.add_maintenance_window([sid], a.clock(), a.clock() + HOUR)
    body = assert_conforms(
        get(edit_sim, f"/maintenance_windows/{by_key}"), "maintenance_windows_id"
    )
    assert body["maintenance_window"]["created_by"] is None  # made by no user
    a.delete_service(sid)
    assert windows(edit_sim) == []


def test_catalog_changes_write_no_audit_record(edit_sim: PagerDutySim) -> None:
    a = edit_sim.account
    populate_catalog(a, random.Random(3), no_high_urgency=0)
    sid = next(iter(a.services))
    bid = a.add_business_service("Checkout")
    a.update_business_service(bid, name="Checkout v2")
    a.add_dependency(("business_service", bid), ("service", sid))
    a.remove_dependency(("business_service", bid), ("service", sid))
    a.delete_business_service(bid)
    a.remove_integration(sid, a.add_integration(sid, "Events"))
    tag = a.add_tag("audited?")
    a.tag("team", next(iter(a.teams)), tag)
    a.untag("team", next(iter(a.teams)), tag)
    a.delete_tag(tag)
    a.delete_maintenance_window(a.add_maintenance_window([sid], a.clock() + HOUR, a.clock() + 9e3))
    assert a.catalog.business_services  # the populated catalog is there
    assert a.audit.records == []
    body = assert_conforms(get(edit_sim, "/audit/records"), "audit_records")
    assert body["records"] == []


def test_the_generated_catalog_is_deterministic(clock: Clock) -> None:
    one, two = (Account.generate(seed=11, users=40, clock=clock, catalog=True) for _ in range(2))
    assert one.catalog == two.catalog
    other = Account.generate(seed=12, users=40, clock=clock, catalog=True)
    assert one.catalog.business_services != other.catalog.business_services
    assert one.audit.records == []
    kinds = {(d["dependent"][0], d["supporting"][0]) for d in one.catalog.dependencies.values()}
    assert kinds == {
        ("business_service", "business_service"),
        ("business_service", "service"),
        ("service", "service"),
    }
    assert any(bs["team_id"] for bs in one.catalog.business_services.values())
    assert any(bs["team_id"] is None for bs in one.catalog.business_services.values())
    assert {i["vendor_id"] is None for i in one.catalog.integrations.values()} == {True, False}
    kinds_tagged = {k for tagged in one.catalog.tagged.values() for k, _ in tagged}
    assert kinds_tagged == {"user", "team", "escalation_policy"}
    now = clock.now
    open_windows = [w for w in one.catalog.maintenance_windows.values() if w["end"] > now]
    assert len(open_windows) == 1
