"""The PagerDuty simulator answers as PagerDuty's published API spec says it does.

Each served endpoint is fetched over a socket from a running simulator and its response
validated against the spec's schema for it (tests/fixtures/pagerduty_schema, excerpts of
PagerDuty/api-schema's openapiv3.json; the README there names the commit). `jsonschema`
is not a dependency, so a small validator below covers the keywords those excerpts use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from sim.pagerduty import Account, PagerDutySim
from tests.conftest import API_KEY

SCHEMAS = Path(__file__).parents[1] / "fixtures" / "pagerduty_schema"
HOUR = 3600

# Where PagerDuty really returns null although the spec's type is not nullable (the spec's
# nullability is loose); each is kept null by the simulator, as the real API sends it.
REAL_NULLS = {
    # on-call entries of a user targeted directly by a policy (no schedule, no shift)
    "schedule",
    "start",
    "end",  # ... and an open-ended schedule layer's end
    # optional free text PagerDuty leaves null when unset (users, teams, services, policies)
    "description",
    "job_title",
    # services: never had an incident; no auto-resolve / acknowledgement timeout set
    "last_incident_timestamp",
    "auto_resolve_timeout",
    "acknowledgement_timeout",
    # an account_reference filter has no id
    "id",
    # the catalog (tests/fixtures/pagerduty_schema/README.md): a business service without a
    # point of contact, an integration without a vendor, a maintenance window an API key made
    "point_of_contact",
    "vendor",
    "created_by",
}

TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def _nullable(schema: dict[str, Any]) -> bool:
    branches = [*schema.get("allOf", []), *schema.get("oneOf", []), *schema.get("anyOf", [])]
    return bool(schema.get("nullable")) or any(_nullable(s) for s in branches)


def violations(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """What in `value` breaks `schema` (type, nullable, enum, required, properties, items,
    allOf, oneOf, anyOf), each as `path: reason`; [] when it conforms."""
    if value is None:
        name = where.rsplit(".", 1)[-1]
        ok = not schema or _nullable(schema) or name in REAL_NULLS
        return [] if ok else [f"{where}: null"]
    errors: list[str] = []
    for sub in schema.get("allOf", []):
        errors += violations(value, sub, where)
    for keyword, least, most in (("oneOf", 1, 1), ("anyOf", 1, None)):
        if keyword in schema:
            matched = sum(not violations(value, sub, where) for sub in schema[keyword])
            if matched < least or (most is not None and matched > most):
                errors.append(f"{where}: {matched} of {keyword} match")
    expected = schema.get("type")
    if expected is not None and not TYPES[expected](value):
        return [*errors, f"{where}: {type(value).__name__} is not {expected}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        errors += [f"{where}: no {key}" for key in schema.get("required", []) if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                errors += violations(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += violations(item, schema["items"], f"{where}[{i}]")
    return errors


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text())
    return loaded


def account() -> Account:
    """Hourly shifts; one schedule loses a user (a gap); one policy targets a user directly."""
    acct = Account.generate(seed=7, users=60, shift_seconds=HOUR)
    schedule = next(s for s in acct.schedules.values() if len(set(s.rotation)) > 1)
    gone = schedule.rotation[0]
    acct.delete_user(gone)
    schedule.rotation.append(gone)  # a shift nobody can take: a gap
    return acct


@pytest.fixture
def spec_sim(make_sim: Callable[..., PagerDutySim]) -> PagerDutySim:
    return make_sim(account())


def get(sim: PagerDutySim, path: str, **params: Any) -> requests.Response:
    return requests.get(
        sim.url + path, params=params, headers={"Authorization": f"Token token={API_KEY}"}
    )


def assert_conforms(response: requests.Response, name: str, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert violations(body, schema(name)) == []
    return body


def ids(sim: PagerDutySim) -> dict[str, str]:
    a = sim.account
    team = next(t for t in a.teams if any(t in u["team_ids"] for u in a.users.values()))
    return {
        "user": next(iter(a.users)),
        "team": team,
        "service": next(iter(a.services)),
        "policy": next(iter(a.policies)),
        "schedule": next(iter(a.schedules)),
    }


ENDPOINTS = [
    ("users", "/users", "users"),
    ("users_id", "/users/{user}", "user"),
    ("teams", "/teams", "teams"),
    ("teams_id", "/teams/{team}", "team"),
    ("teams_id_members", "/teams/{team}/members", "members"),
    ("services", "/services", "services"),
    ("services_id", "/services/{service}", "service"),
    ("escalation_policies", "/escalation_policies", "escalation_policies"),
    ("escalation_policies_id", "/escalation_policies/{policy}", "escalation_policy"),
    ("schedules", "/schedules", "schedules"),
    ("schedules_id", "/schedules/{schedule}", "schedule"),
    ("oncalls", "/oncalls", "oncalls"),
    ("abilities", "/abilities", "abilities"),
]


@pytest.mark.parametrize(("name", "template", "key"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_each_endpoint_answers_with_the_spec_schema(
    spec_sim: PagerDutySim, name: str, template: str, key: str
) -> None:
    body = assert_conforms(get(spec_sim, template.format(**ids(spec_sim)), limit=100), name)
    assert body[key], "an empty answer would prove nothing"


def test_the_validator_can_fail() -> None:
    user = schema("users_id")
    assert violations({"user": {"name": "x", "email": "y", "type": "user"}}, user) == []
    assert violations({"user": {"name": "x", "type": "person", "teams": [{}]}}, user) == [
        "$.user: no email",
        "$.user.type: 'person' not in ['user']",
        "$.user.teams[0]: no type",
        "$.user.teams[0]: no id",
    ]
    assert violations({"oncalls": [{"escalation_level": None}]}, schema("oncalls")) == [
        "$.oncalls[0].escalation_level: null"
    ]


def test_unknown_ids_answer_404_with_pagerduty_error(spec_sim: PagerDutySim) -> None:
    for path in ("/users/PNOPE00", "/teams/PNOPE00", "/teams/PNOPE00/members"):
        body = assert_conforms(get(spec_sim, path), "error_404", 404)
        assert body["error"]["code"] == 2100
    for path in ("/escalation_policies/PNOPE00", "/schedules/PNOPE00", "/services/PNOPE00"):
        assert get(spec_sim, path).status_code == 404


def test_timestamps_carry_offsets_and_parse(spec_sim: PagerDutySim) -> None:
    stamps = [s["created_at"] for s in get(spec_sim, "/services", limit=100).json()["services"]]
    stamps += [o["end"] for o in get(spec_sim, "/oncalls", limit=100).json()["oncalls"] if o["end"]]
    assert stamps
    for stamp in stamps:
        assert not stamp.endswith("Z") and stamp[-6] in "+-", stamp  # 2015-03-06T15:28:51-05:00
        assert datetime.fromisoformat(stamp).utcoffset() is not None


def window(sim: PagerDutySim, hours: int) -> dict[str, str]:
    now = sim.account.clock()
    since, until = (
        datetime.fromtimestamp(now).astimezone(),
        datetime.fromtimestamp(now + hours * HOUR).astimezone(),
    )
    return {"since": since.isoformat(), "until": until.isoformat()}


def test_oncalls_since_until(spec_sim: PagerDutySim) -> None:
    now = get(spec_sim, "/oncalls", limit=100).json()["oncalls"]
    span = assert_conforms(get(spec_sim, "/oncalls", limit=100, **window(spec_sim, 5)), "oncalls")
    shifts = [o for o in span["oncalls"] if o["schedule"] is not None]
    assert len(shifts) > len([o for o in now if o["schedule"] is not None])
    for o in shifts:  # every shift returned overlaps the window
        assert datetime.fromisoformat(o["end"]).timestamp() > spec_sim.account.clock()

    backwards = window(spec_sim, 5)
    backwards["since"], backwards["until"] = backwards["until"], backwards["since"]
    body = assert_conforms(get(spec_sim, "/oncalls", **backwards), "error_400", 400)
    assert body["error"]["code"] == 2001
    assert get(spec_sim, "/oncalls", since="yesterday").status_code == 400


def test_include_expands_references(spec_sim: PagerDutySim) -> None:
    user, policy = schema("users_id")["properties"]["user"], schema("escalation_policies_id")
    policy = policy["properties"]["escalation_policy"]
    include = ["users", "escalation_policies"]
    oncalls = get(spec_sim, "/oncalls", limit=100, **{"include[]": include}).json()["oncalls"]
    assert oncalls
    for o in oncalls:
        assert violations(o["user"], user) == []
        assert violations(o["escalation_policy"], policy) == []
    services = get(spec_sim, "/services", **{"include[]": "escalation_policies"}).json()
    for s in services["services"]:
        assert violations(s["escalation_policy"], policy) == []
        assert s["escalation_policy"]["escalation_rules"]
    plain = get(spec_sim, "/services").json()["services"]
    assert all(s["escalation_policy"]["type"] == "escalation_policy_reference" for s in plain)


def test_policies_have_rules_of_both_target_kinds(spec_sim: PagerDutySim) -> None:
    policies = get(spec_sim, "/escalation_policies", limit=100).json()["escalation_policies"]
    targets = {t["type"] for p in policies for r in p["escalation_rules"] for t in r["targets"]}
    assert targets == {"schedule_reference", "user_reference"}
    assert any(p["teams"] for p in policies)
    assert all(p["escalation_rules"][0]["escalation_delay_in_minutes"] > 0 for p in policies)


def test_final_schedule_renders_shifts_and_gaps(spec_sim: PagerDutySim) -> None:
    a = spec_sim.account
    days = 3 * 24
    coverage = {}
    for sid, sched in a.schedules.items():
        body = assert_conforms(
            get(spec_sim, f"/schedules/{sid}", **window(spec_sim, days)), "schedules_id"
        )
        final = body["schedule"]["final_schedule"]
        coverage[sid] = final["rendered_coverage_percentage"]
        entries = final["rendered_schedule_entries"]
        assert {e["user"]["id"] for e in entries} <= set(sched.rotation) & set(a.users)
        covered = sum(
            datetime.fromisoformat(e["end"]).timestamp()
            - datetime.fromisoformat(e["start"]).timestamp()
            for e in entries
        )
        assert covered / (days * HOUR) * 100 == pytest.approx(coverage[sid])
    gapped = coverage.pop(next(s.id for s in a.schedules.values() if s.rotation[-1] not in a.users))
    assert 0 < gapped < 100
    assert set(coverage.values()) == {100.0}
    assert (
        "final_schedule"
        not in get(spec_sim, f"/schedules/{next(iter(a.schedules))}").json()["schedule"]
    )


def test_team_members_page_with_roles(spec_sim: PagerDutySim) -> None:
    team = ids(spec_sim)["team"]
    expected = {u for u, user in spec_sim.account.users.items() if team in user["team_ids"]}
    first = assert_conforms(get(spec_sim, f"/teams/{team}/members", limit=1), "teams_id_members")
    assert first["more"] == (len(expected) > 1)
    members = get(spec_sim, f"/teams/{team}/members", limit=100).json()["members"]
    assert {m["user"]["id"] for m in members} == expected
    assert {m["role"] for m in members} <= {"manager", "responder", "observer"}


def subscribe(sim: PagerDutySim, **drop: bool) -> requests.Response:
    body = {
        "type": "webhook_subscription",
        "delivery_method": {"type": "http_delivery_method", "url": "https://example.test/hook"},
        "events": ["service.updated"],
        "filter": {"type": "account_reference"},
    }
    for key in drop:
        body.pop(key)
    return requests.post(
        sim.url + "/webhook_subscriptions",
        json={"webhook_subscription": body},
        headers={"Authorization": f"Token token={API_KEY}"},
    )


def test_webhook_subscription_needs_type_and_filter(spec_sim: PagerDutySim) -> None:
    for missing in ("type", "filter"):
        assert_conforms(subscribe(spec_sim, **{missing: True}), "error_400", 400)
    assert_conforms(subscribe(spec_sim), "webhook_subscriptions_post", 201)
    listed = get(spec_sim, "/webhook_subscriptions")
    assert len(assert_conforms(listed, "webhook_subscriptions")["webhook_subscriptions"]) == 1
