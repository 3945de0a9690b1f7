"""Users' contact methods and notification rules in the simulator: references on every
user, the objects with `include[]=contact_methods` / `include[]=notification_rules` (each
as the spec's schema says), the default a generated user has, and each change recorded
under the user in `GET /audit/records` as the spec's `AuditRecordUserResponse` example."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from tests.sim.test_pagerduty_audit import records
from tests.sim.test_pagerduty_spec import get, schema, violations

EXPANDED = ("contact_methods", "notification_rules")


@pytest.fixture
def contact_sim(make_sim: Callable[..., PagerDutySim], clock: Clock) -> PagerDutySim:
    return make_sim(Account.generate(seed=7, users=30, clock=clock))


def add_every_kind(a: Account, uid: str) -> dict[str, str]:
    cms = {
        "phone": a.add_contact_method(uid, "phone_contact_method", "2025550199", country_code=1),
        "sms": a.add_contact_method(uid, "sms_contact_method", "2025550199", "Mobile"),
        "push": a.add_contact_method(
            uid, "push_notification_contact_method", "token", "Pixel", device_type="android"
        ),
    }
    a.add_notification_rule(uid, cms["phone"], "high", 5)
    a.add_notification_rule(uid, cms["sms"], "low", 0)
    return cms


def check_user(user: dict[str, Any], expanded: bool) -> None:
    """The user without its contact fields against the user schema; those fields' items
    against the contact method and notification rule schemas, or as references."""
    method = schema("users_id_contact_methods_id")["properties"]["contact_method"]
    rule = schema("users_id_notification_rules_id")["properties"]["notification_rule"]
    rest = {k: v for k, v in user.items() if k not in EXPANDED or not expanded}
    assert violations({"user": rest}, schema("users_id")) == []
    assert user["contact_methods"] and user["notification_rules"]
    if expanded:
        assert all(violations(cm, method) == [] for cm in user["contact_methods"])
        assert all(violations(r, rule) == [] for r in user["notification_rules"])
    refs = user["contact_methods"] + user["notification_rules"]
    assert all(r["type"].endswith("_reference") != expanded for r in refs)


def test_users_name_their_contacts_and_include_expands_them(contact_sim: PagerDutySim) -> None:
    a = contact_sim.account
    uid = next(iter(a.users))
    add_every_kind(a, uid)
    for include in ([], list(EXPANDED)):
        params = {"include[]": include} if include else {}
        response = get(contact_sim, f"/users/{uid}", **params)
        assert response.status_code == 200
        one = response.json()["user"]
        check_user(one, bool(include))
        assert {cm["summary"] for cm in one["contact_methods"]} == {
            "Default",
            "Work",
            "Mobile",
            "Pixel",
        }
        listed = get(contact_sim, "/users", limit=100, **params).json()["users"]
        for user in listed:
            check_user(user, bool(include))
    only = get(contact_sim, f"/users/{uid}", **{"include[]": "notification_rules"}).json()["user"]
    assert all(cm["type"].endswith("_reference") for cm in only["contact_methods"])
    expanded = {r["type"] for r in only["notification_rules"]}
    assert expanded == {"assignment_notification_rule"}


def test_every_contact_kind_has_the_specs_fields(contact_sim: PagerDutySim) -> None:
    a = contact_sim.account
    uid = next(iter(a.users))
    cms = add_every_kind(a, uid)
    user = get(contact_sim, f"/users/{uid}", **{"include[]": list(EXPANDED)}).json()["user"]
    served = {cm["id"]: cm for cm in user["contact_methods"]}
    assert served[cms["phone"]]["country_code"] == 1 and served[cms["phone"]]["label"] == "Work"
    assert served[cms["push"]]["device_type"] == "android"
    rules = {r["contact_method"]["id"]: r for r in user["notification_rules"]}
    assert (rules[cms["phone"]]["urgency"], rules[cms["phone"]]["start_delay_in_minutes"]) == (
        "high",
        5,
    )
    assert rules[cms["sms"]]["contact_method"]["type"] == "sms_contact_method_reference"


def test_a_generated_user_is_emailed_of_high_urgency_at_once(clock: Clock) -> None:
    a = Account.generate(seed=7, users=30, clock=clock)
    for uid, user in a.users.items():
        [cm] = a.contact_methods_of(uid).values()
        [rule] = a.notification_rules_of(uid).values()
        assert (cm["type"], cm["address"], cm["label"]) == (
            "email_contact_method",
            user["email"],
            "Default",
        )
        assert (rule["contact_method_id"], rule["urgency"], rule["start_delay_in_minutes"]) == (
            cm["id"],
            "high",
            0,
        )
    assert a.audit.records == []


def test_the_catalog_leaves_a_few_users_without_high_urgency(clock: Clock) -> None:
    a = Account.generate(seed=7, users=30, clock=clock, catalog=True)
    unreached = [
        uid
        for uid in a.users
        if not any(r["urgency"] == "high" for r in a.notification_rules_of(uid).values())
    ]
    assert len(unreached) == 3
    assert any(a.notification_rules_of(uid) for uid in unreached)
    assert any(not a.notification_rules_of(uid) for uid in unreached)
    assert a.audit.records == []


def fields(record: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {f["name"]: (f.get("before_value"), f["value"]) for f in record["details"]["fields"]}


def test_contact_changes_are_recorded_under_the_user(contact_sim: PagerDutySim) -> None:
    a = contact_sim.account
    uid = next(iter(a.users))
    name = a.users[uid]["name"]
    cm = a.add_contact_method(uid, "sms_contact_method", "2025550199", "Mobile")
    rule = a.add_notification_rule(uid, cm, "low", 3)
    served = records(contact_sim, **{"root_resource_types[]": "users"})
    rule_fields, rule_listed, cm_fields, cm_listed = served
    for r in served:
        assert r["root_resource"] == {**r["root_resource"], "id": uid, "type": "user_reference"}
        assert r["root_resource"]["summary"] == name and r["action"] == "update"
    assert cm_listed["details"]["resource"]["id"] == uid
    assert cm_listed["details"]["references"] == [
        {"name": "contact_methods", "added": [cm_fields["details"]["resource"]]}
    ]
    assert cm_fields["details"]["resource"]["type"] == "sms_contact_method_reference"
    assert fields(cm_fields) == {
        "label": (None, "Mobile"),
        "type": (None, "sms_contact_method"),
        "address": (None, "2025550199"),
    }
    assert cm_listed["execution_context"] == cm_fields["execution_context"]
    assert cm_fields["execution_context"] != rule_fields["execution_context"]
    resource = rule_fields["details"]["resource"]
    assert (resource["id"], resource["type"]) == (rule, "assignment_notification_rule_reference")
    assert resource["summary"] == "Low Urgency (SMS: Mobile)"
    assert rule_listed["details"]["references"] == [
        {"name": "notification_rules", "added": [resource]}
    ]
    assert fields(rule_fields) == {"start_delay_in_minutes": (None, "3"), "urgency": (None, "low")}
    [method] = rule_fields["details"]["references"]
    assert (method["name"], method["added"][0]["id"]) == ("contact_method", cm)


def test_removing_a_contact_method_removes_its_rules(contact_sim: PagerDutySim) -> None:
    a = contact_sim.account
    uid = next(iter(a.users))
    cm = a.add_contact_method(uid, "phone_contact_method", "2025550199")
    rule = a.add_notification_rule(uid, cm, "high", 1)
    other = a.add_notification_rule(uid, next(iter(a.contact_methods_of(uid))), "low")
    before = len(a.audit.records)
    a.remove_contact_method(uid, cm)
    assert rule not in a.notification_rules_of(uid) and other in a.notification_rules_of(uid)
    assert cm not in a.contact_methods_of(uid)
    served = records(contact_sim)[: len(a.audit.records) - before]
    cm_fields, cm_listed, rule_fields, rule_listed = served
    assert len({r["execution_context"]["request_id"] for r in served}) == 1
    assert rule_listed["details"]["references"][0]["removed"][0]["id"] == rule
    assert fields(rule_fields) == {"start_delay_in_minutes": ("1", None), "urgency": ("high", None)}
    assert rule_fields["details"]["references"][0]["removed"][0]["id"] == cm
    assert cm_listed["details"]["references"][0] == {
        "name": "contact_methods",
        "removed": [cm_fields["details"]["resource"]],
    }
    assert fields(cm_fields)["address"] == ("2025550199", None)
    a.remove_notification_rule(uid, other)
    assert records(contact_sim)[0]["details"]["resource"]["id"] == other
    user = get(contact_sim, f"/users/{uid}").json()["user"]
    assert [r["id"] for r in user["contact_methods"]] == list(a.contact_methods_of(uid))
    assert len(user["notification_rules"]) == 1  # the default, high urgency


def test_contact_mistakes_are_refused(contact_sim: PagerDutySim) -> None:
    a = contact_sim.account
    uid, other = list(a.users)[:2]
    theirs = next(iter(a.contact_methods_of(other)))
    with pytest.raises(KeyError):
        a.add_notification_rule(uid, theirs)
    with pytest.raises(ValueError, match="urgency"):
        a.add_notification_rule(other, theirs, urgency="medium")
    with pytest.raises(ValueError, match="contact method type"):
        a.add_contact_method(uid, "pager_contact_method", "123")
    with pytest.raises(KeyError):
        a.add_contact_method("PNOPE00", "email_contact_method", "x@example.test")
    a.delete_user(uid)
    assert uid not in a.catalog.contact_methods and uid not in a.catalog.notification_rules
