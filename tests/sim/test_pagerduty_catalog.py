"""The simulator's catalog endpoints answer as PagerDuty's spec says: business services,
service dependencies, integrations and vendors, tags, maintenance windows. Each response is
validated against its schema excerpt (tests/fixtures/pagerduty_schema), each listing pages
like the others, an unknown id is a 404, and an integration's secret `integration_key` is
served in the integration objects and nowhere else."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from tests.sim.test_pagerduty_spec import assert_conforms, get, schema, violations


@pytest.fixture
def catalog_sim(make_sim: Callable[..., PagerDutySim], clock: Clock) -> PagerDutySim:
    account = Account.generate(seed=7, users=60, clock=clock, catalog=True)
    return make_sim(account)


def catalog_ids(sim: PagerDutySim) -> dict[str, str]:
    """Ids of objects the generated catalog gives something to show."""
    a, c = sim.account, sim.account.catalog
    tag = next(t for t, tagged in c.tagged.items() if {k for k, _ in tagged} >= {"user", "team"})
    first = {kind: oid for kind, oid in reversed(c.tagged[tag])}
    policies = [
        oid for tagged in c.tagged.values() for kind, oid in tagged if kind == "escalation_policy"
    ]
    supporting = [d["supporting"] for d in c.dependencies.values()]
    return {
        "business_service": next(iter(c.business_services)),
        "service": next(oid for kind, oid in supporting if kind == "service"),
        "tag": tag,
        "user": first["user"],
        "team": first["team"],
        "policy": policies[0],
        "window": next(iter(c.maintenance_windows)),
        "vendor": next(iter(a.vendors)),
    }


ENDPOINTS = [
    ("business_services", "/business_services", "business_services"),
    ("business_services_id", "/business_services/{business_service}", "business_service"),
    (
        "service_dependencies_business_services_id",
        "/service_dependencies/business_services/{business_service}",
        "relationships",
    ),
    (
        "service_dependencies_technical_services_id",
        "/service_dependencies/technical_services/{service}",
        "relationships",
    ),
    ("vendors", "/vendors", "vendors"),
    ("tags", "/tags", "tags"),
    ("tags_id", "/tags/{tag}", "tag"),
    ("tags_id_entity_type", "/tags/{tag}/users", "users"),
    ("tags_id_entity_type", "/tags/{tag}/teams", "teams"),
    ("entity_type_id_tags", "/users/{user}/tags", "tags"),
    ("entity_type_id_tags", "/teams/{team}/tags", "tags"),
    ("entity_type_id_tags", "/escalation_policies/{policy}/tags", "tags"),
    ("maintenance_windows", "/maintenance_windows", "maintenance_windows"),
    ("maintenance_windows_id", "/maintenance_windows/{window}", "maintenance_window"),
]


@pytest.mark.parametrize(("name", "template", "key"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
def test_each_catalog_endpoint_answers_with_the_spec_schema(
    catalog_sim: PagerDutySim, name: str, template: str, key: str
) -> None:
    path = template.format(**catalog_ids(catalog_sim))
    body = assert_conforms(get(catalog_sim, path, limit=100), name)
    assert body[key], "an empty answer would prove nothing"


def test_tagged_policies_answer_with_the_spec_schema(catalog_sim: PagerDutySim) -> None:
    tag = next(
        t
        for t, tagged in catalog_sim.account.catalog.tagged.items()
        if any(kind == "escalation_policy" for kind, _ in tagged)
    )
    body = assert_conforms(
        get(catalog_sim, f"/tags/{tag}/escalation_policies"), "tags_id_entity_type"
    )
    assert {r["type"] for r in body["escalation_policies"]} == {"escalation_policy_reference"}


def test_a_vendor_is_an_object_of_the_specs_vendor_schema(catalog_sim: PagerDutySim) -> None:
    """The spec wraps `vendor` in an array; PagerDuty (and its Go client) answer an object:
    validated against the array's items (tests/fixtures/pagerduty_schema/README.md)."""
    vendor_id = catalog_ids(catalog_sim)["vendor"]
    response = get(catalog_sim, f"/vendors/{vendor_id}")
    assert response.status_code == 200
    vendor = response.json()["vendor"]
    assert violations(vendor, schema("vendors_id")["properties"]["vendor"]["items"]) == []
    assert vendor == catalog_sim.account.vendors[vendor_id]
    listed = get(catalog_sim, "/vendors", limit=100).json()["vendors"]
    assert {"Amazon CloudWatch", "Datadog", "New Relic", "Prometheus", "Splunk"} <= {
        v["name"] for v in listed
    }
    assert [v["name"] for v in get(catalog_sim, "/vendors", query="dog").json()["vendors"]] == [
        "Datadog"
    ]


def test_included_integrations_are_the_specs_integrations(catalog_sim: PagerDutySim) -> None:
    integration = schema("services_id_integrations_id")["properties"]["integration"]
    reference = schema("services_id")["properties"]["service"]
    services = get(catalog_sim, "/services", limit=100, **{"include[]": "integrations"}).json()
    expanded = [i for s in services["services"] for i in s["integrations"]]
    assert len(expanded) == len(catalog_sim.account.catalog.integrations)
    for item in expanded:
        assert violations(item, integration) == []
        assert not item["type"].endswith("_reference")
    assert {i["vendor"] is None for i in expanded} == {True, False}
    plain = assert_conforms(get(catalog_sim, "/services", limit=100), "services")["services"]
    refs = [i for s in plain for i in s["integrations"]]
    assert [r["id"] for r in refs] == [i["id"] for i in expanded]
    assert all(r["type"].endswith("_inbound_integration_reference") for r in refs)
    sid = next(s["id"] for s in plain if s["integrations"])
    one = get(catalog_sim, f"/services/{sid}", **{"include[]": "integrations"}).json()["service"]
    assert violations({k: v for k, v in one.items() if k != "integrations"}, reference) == []
    assert all(violations(i, integration) == [] for i in one["integrations"])


def walk(sim: PagerDutySim, path: str, key: str, limit: int = 1, **params: Any) -> list[Any]:
    """Every item of a listing, a page of `limit` at a time, checking each page's paging."""
    items: list[Any] = []
    offset = 0
    while True:
        body = get(sim, path, limit=limit, offset=offset, total="true", **params).json()
        assert (body["limit"], body["offset"]) == (limit, offset)
        items += body[key]
        assert body["total"] >= len(items)
        if not body["more"]:
            assert body["total"] == len(items)
            return items
        assert len(body[key]) == limit
        offset += limit


def listings(sim: PagerDutySim) -> Iterator[tuple[str, str]]:
    ids = catalog_ids(sim)
    yield "/business_services", "business_services"
    yield "/vendors", "vendors"
    yield "/tags", "tags"
    yield f"/tags/{ids['tag']}/users", "users"
    yield f"/users/{ids['user']}/tags", "tags"
    yield "/maintenance_windows", "maintenance_windows"


def test_every_catalog_listing_pages(catalog_sim: PagerDutySim, clock: Clock) -> None:
    a = catalog_sim.account
    user = catalog_ids(catalog_sim)["user"]
    for label in ("zeta", "alpha"):
        a.tag("user", user, a.add_tag(label))
    for hours in (1, 2):
        a.add_maintenance_window(list(a.services)[:1], clock.now + hours * 3600, clock.now + 9e4)
    for path, key in listings(catalog_sim):
        whole = get(catalog_sim, path, limit=100).json()[key]
        assert len(whole) > 1, path
        assert walk(catalog_sim, path, key) == whole, path
        assert walk(catalog_sim, path, key, limit=2) == whole, path
        first = get(catalog_sim, path, limit=1).json()
        assert first["more"] is True and first["total"] is None, path
    assert get(catalog_sim, "/tags", offset=10_000).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/business_services/PNOPE00",
        "/service_dependencies/business_services/PNOPE00",
        "/service_dependencies/technical_services/PNOPE00",
        "/vendors/PNOPE00",
        "/tags/PNOPE00",
        "/tags/PNOPE00/users",
        "/users/PNOPE00/tags",
        "/teams/PNOPE00/tags",
        "/escalation_policies/PNOPE00/tags",
        "/maintenance_windows/PNOPE00",
    ],
)
def test_unknown_catalog_ids_answer_404(catalog_sim: PagerDutySim, path: str) -> None:
    body = assert_conforms(get(catalog_sim, path), "error_404", 404)
    assert body["error"]["code"] == 2100


def test_a_dependency_path_names_the_kind_of_service(catalog_sim: PagerDutySim) -> None:
    ids = catalog_ids(catalog_sim)
    business, service = ids["business_service"], ids["service"]
    assert (
        get(catalog_sim, f"/service_dependencies/technical_services/{business}").status_code == 404
    )
    assert get(catalog_sim, f"/service_dependencies/business_services/{service}").status_code == 404


def _paths_of(value: Any, key: str, where: str = "$") -> Iterator[str]:
    """Where in a JSON document `key` is, or a string equal to `key` is."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                yield f"{where}.{k}"
            yield from _paths_of(v, key, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths_of(v, key, f"{where}[{i}]")
    elif value == key:
        yield where


def test_integration_keys_are_served_only_in_integration_objects(
    catalog_sim: PagerDutySim,
) -> None:
    a = catalog_sim.account
    a.update_service(next(iter(a.services)), name="renamed")  # an audit record of a service
    keys = {i["integration_key"] for i in a.catalog.integrations.values()}
    assert len(keys) == len(a.catalog.integrations) and all(len(k) == 32 for k in keys)
    included = {"include[]": ["integrations", "escalation_policies", "teams"]}
    sid = next(s for s in a.services if a.integrations_of(s))
    bodies = {
        (path, bool(params)): get(catalog_sim, path, limit=100, **params).json()
        for path, params in [
            ("/services", included),
            (f"/services/{sid}", included),
            ("/services", {}),
            (f"/services/{sid}", {}),
            ("/vendors", {}),
            ("/business_services", {}),
            ("/maintenance_windows", {}),
            ("/users", {"include[]": ["contact_methods", "notification_rules"]}),
            ("/escalation_policies", {}),
            ("/oncalls", {"include[]": ["users", "escalation_policies"]}),
            ("/audit/records", {}),
        ]
    }
    found = {where: list(_paths_of(body, "integration_key")) for where, body in bodies.items()}
    assert [where for where, paths in found.items() if paths] == [
        ("/services", True),
        (f"/services/{sid}", True),
    ]
    for paths in found.values():  # $.services[i] or $.service, .integrations[j]
        assert all(p.endswith(".integration_key") and ".integrations[" in p for p in paths)
    listed = bodies[("/services", True)]["services"]
    assert {i["integration_key"] for s in listed for i in s["integrations"]} == keys
    for where, body in bodies.items():
        if not found[where]:
            text = json.dumps(body)
            assert not any(key in text for key in keys), where
