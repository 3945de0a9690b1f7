"""Every SPEC §5 row, from recorded-shape PagerDuty JSON to graph objects."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from common.objects import Build, build_graph
from common.objects.base import epoch_ms
from common.objects.membership import team_has_user_edges
from common.objects.oncall import oncall_edges_for_service, oncall_levels
from common.objects.service import KIND as SERVICE_KIND
from common.objects.service import transform_service
from common.objects.team import transform_team
from common.objects.user import transform_user

FIXTURES = Path(__file__).parents[2] / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def user() -> dict[str, Any]:
    return load("user.json")


@pytest.fixture
def team() -> dict[str, Any]:
    return load("team.json")


@pytest.fixture
def service() -> dict[str, Any]:
    return load("service.json")


@pytest.fixture
def oncalls() -> list[dict[str, Any]]:
    return load("oncalls.json")["oncalls"]


def test_user_entity_has_exactly_the_spec_properties(user: dict[str, Any]) -> None:
    assert transform_user(user).to_j1() == {
        "_key": "user:PXPGF42",
        "_type": "pagerduty_user",
        "_class": "User",
        "id": "PXPGF42",
        "name": "Earline Greenholt",
        "displayName": "Earline Greenholt",
        "summary": "Earline Greenholt",
        "description": "I'm the boss",
        "webLink": "https://subdomain.pagerduty.com/users/PXPGF42",
        # arrays: JupiterOne's data model (User.json) types them so
        "email": ["125.greenholt.earline@graham.name"],
        "username": ["125.greenholt.earline@graham.name"],
        "shortLoginId": ["125.greenholt.earline"],
        "emailDomain": ["graham.name"],
        "firstName": "Earline",
        "lastName": "Greenholt",
        "role": "admin",
        "admin": True,
        "active": True,
        "isActive": True,
        "jobTitle": "Director of Engineering",
        "timeZone": "America/Lima",
        "billed": True,
        "invitationSent": False,
        "contactMethodTypes": [],
        "notifiedOnHighUrgency": False,
    }


@pytest.mark.parametrize(
    ("role", "admin"),
    [
        ("owner", True),
        ("admin", True),
        ("user", False),
        ("limited_user", False),
        ("observer", False),
        ("read_only_user", False),
        ("restricted_access", False),
        ("read_only_limited_user", False),
    ],
)
def test_admin_is_true_only_for_admin_and_owner(
    user: dict[str, Any], role: str, admin: bool
) -> None:
    user["role"] = role
    assert transform_user(user).properties["admin"] is admin


def test_team_entity(team: dict[str, Any]) -> None:
    assert transform_team(team).to_j1() == {
        "_key": "team:PQ9K7I8",
        "_type": "pagerduty_team",
        "_class": "Team",
        "id": "PQ9K7I8",
        "name": "Engineering",
        "displayName": "Engineering",
        "summary": "Engineering",
        "description": "All engineering",
        "webLink": "https://subdomain.pagerduty.com/teams/PQ9K7I8",
    }


def test_service_entity_has_exactly_the_spec_properties(service: dict[str, Any]) -> None:
    assert transform_service(service).to_j1() == {
        "_key": "service:PIJ90N7",
        "_type": "pagerduty_service",
        "_class": "Service",
        "id": "PIJ90N7",
        "name": "My Application Service",
        "displayName": "My Application Service",
        "summary": "My Application Service",
        "description": "Ünïcödé description ✨",
        "webLink": "https://subdomain.pagerduty.com/service-directory/PIJ90N7",
        "status": "active",
        "active": True,
        "category": ["software"],
        "function": ["monitoring"],
        "endpoints": ["https://subdomain.pagerduty.com/service-directory/PIJ90N7"],
        # 2015-11-06T11:12:51-05:00 is 16:12:51 UTC
        "createdOn": 1446826371000,
        "lastIncidentOn": 1614100172000,
        "escalationPolicyId": "PT20YPA",
        "alertCreation": "create_alerts_and_incidents",
        "autoResolveTimeout": 14400,
        "acknowledgementTimeout": 600,
        "inMaintenance": False,
    }


@pytest.mark.parametrize(
    ("status", "active"),
    [
        ("active", True),
        ("warning", True),
        ("critical", True),
        ("maintenance", True),
        ("disabled", False),
    ],
)
def test_service_is_active_unless_disabled(
    service: dict[str, Any], status: str, active: bool
) -> None:
    service["status"] = status
    entity = transform_service(service)
    assert entity.properties["status"] == status
    assert entity.properties["active"] is active


def test_null_properties_are_left_out(service: dict[str, Any]) -> None:
    """The data model types them as non-null (`description`: string): absent, not null."""
    service.update(last_incident_timestamp=None, auto_resolve_timeout=None, description=None)
    props = transform_service(service).properties
    assert {"lastIncidentOn", "autoResolveTimeout", "description"}.isdisjoint(props)


def test_a_one_word_user_name_has_a_null_last_name(user: dict[str, Any]) -> None:
    """User requires lastName and allows null: kept as null, unlike other nulls."""
    user.update(name="Cher", description=None, email="cher@Example.COM")
    props = transform_user(user).properties
    assert (props["firstName"], props["lastName"]) == ("Cher", None)
    assert props["shortLoginId"] == ["cher"] and props["emailDomain"] == ["example.com"]
    assert "description" not in props


def test_account_name_tags_every_entity(
    user: dict[str, Any], team: dict[str, Any], service: dict[str, Any]
) -> None:
    for entity in (
        transform_user(user, "Acme"),
        transform_team(team, "Acme"),
        transform_service(service, "Acme"),
    ):
        assert entity.properties["tag.AccountName"] == "Acme"
    assert "tag.AccountName" not in transform_user(user).properties


def test_epoch_ms_handles_zulu_and_offsets() -> None:
    assert epoch_ms("1970-01-01T00:00:01Z") == 1000
    assert epoch_ms("1970-01-01T01:00:00+01:00") == 0
    assert epoch_ms(None) is None


def test_team_has_user_edge_per_team_of_the_user(user: dict[str, Any]) -> None:
    edges = team_has_user_edges(user)
    assert [e.to_j1() for e in edges] == [
        {
            "_key": "team:PQ9K7I8|has|user:PXPGF42",
            "_type": "pagerduty_team_has_user",
            "_class": "HAS",
            "_fromEntityKey": "team:PQ9K7I8",
            "_toEntityKey": "user:PXPGF42",
        },
        {
            "_key": "team:PT23IWX|has|user:PXPGF42",
            "_type": "pagerduty_team_has_user",
            "_class": "HAS",
            "_fromEntityKey": "team:PT23IWX",
            "_toEntityKey": "user:PXPGF42",
        },
    ]


def test_assigned_and_uses_edges_of_the_service(service: dict[str, Any]) -> None:
    _, edges = SERVICE_KIND.transform(service, Build())
    assert [e.to_j1() for e in edges] == [
        {
            "_key": "team:PQ9K7I8|assigned|service:PIJ90N7",
            "_type": "pagerduty_team_assigned_service",
            "_class": "ASSIGNED",
            "_fromEntityKey": "team:PQ9K7I8",
            "_toEntityKey": "service:PIJ90N7",
        },
        {
            "_key": "service:PIJ90N7|uses|escalation_policy:PT20YPA",
            "_type": "pagerduty_service_uses_escalation_policy",
            "_class": "USES",
            "_fromEntityKey": "service:PIJ90N7",
            "_toEntityKey": "escalation_policy:PT20YPA",
        },
    ]


def test_jupiterone_model_points_assigned_at_the_team_and_names_oncall_monitors(
    service: dict[str, Any], oncalls: list[dict[str, Any]]
) -> None:
    """graph-pagerduty 3.x's names (GRAPH_MODEL=jupiterone); the rest is the same."""
    levels = oncall_levels(oncalls)
    _, seed = SERVICE_KIND.transform(service, Build(levels=levels))
    _, j1 = SERVICE_KIND.transform(service, Build(model="jupiterone", levels=levels))
    assert [e.key for e in j1 if e.class_ == "ASSIGNED"] == [
        "service:PIJ90N7|assigned|team:PQ9K7I8"
    ]
    assert {e.type for e in j1} - {e.type for e in seed} == {
        "pagerduty_service_assigned_team",
        "pagerduty_user_monitors_service",
    }
    monitors = [e for e in j1 if e.class_ == "MONITORS"]
    oncall = [e for e in seed if e.class_ == "ONCALL"]
    assert [(e.from_key, e.properties) for e in monitors] == [
        (e.from_key, e.properties) for e in oncall
    ]
    assert monitors and all(e.key.split("|")[1] == "monitors" for e in monitors)


def test_oncall_edges_cover_every_level_with_the_lowest_level(
    service: dict[str, Any], oncalls: list[dict[str, Any]]
) -> None:
    edges = oncall_edges_for_service(service, oncall_levels(oncalls))
    assert [e.to_j1() for e in edges] == [
        {
            "_key": "user:PAM4FGS|oncall|service:PIJ90N7",
            "_type": "pagerduty_user_oncall_service",
            "_class": "ONCALL",
            "_fromEntityKey": "user:PAM4FGS",
            "_toEntityKey": "service:PIJ90N7",
            "escalationLevel": 3,
            "escalationLevels": [3],
            "escalationPolicyId": "PT20YPA",
        },
        {
            "_key": "user:PXPGF42|oncall|service:PIJ90N7",
            "_type": "pagerduty_user_oncall_service",
            "_class": "ONCALL",
            "_fromEntityKey": "user:PXPGF42",
            "_toEntityKey": "service:PIJ90N7",
            "escalationLevel": 1,
            # on call at levels 1 and 2: the lowest, and every level (the report's per-level check)
            "escalationLevels": [1, 2],
            "escalationPolicyId": "PT20YPA",
        },
    ]


def test_two_users_on_call_at_one_level_each_get_an_edge_at_that_level(
    service: dict[str, Any], oncalls: list[dict[str, Any]]
) -> None:
    """Level 1 of PT20YPA has PXPGF42 directly and PBKT3QD by a schedule; level 3 has
    PAM4FGS and, by another schedule, PC7V2LM as well."""

    def also_on_call(user_id: str, level: int, schedule_id: str) -> dict[str, Any]:
        entry = copy.deepcopy(oncalls[0])
        entry.update(
            escalation_level=level,
            user={"id": user_id, "type": "user_reference"},
            schedule={"id": schedule_id, "type": "schedule_reference"},
        )
        return entry

    oncalls += [also_on_call("PBKT3QD", 1, "PSCHED1"), also_on_call("PC7V2LM", 3, "PSCHED3")]
    edges = oncall_edges_for_service(service, oncall_levels(oncalls))
    assert [(e.key, e.properties) for e in edges] == [
        (
            "user:PAM4FGS|oncall|service:PIJ90N7",
            {"escalationLevel": 3, "escalationLevels": [3], "escalationPolicyId": "PT20YPA"},
        ),
        (
            "user:PBKT3QD|oncall|service:PIJ90N7",
            {"escalationLevel": 1, "escalationLevels": [1], "escalationPolicyId": "PT20YPA"},
        ),
        (
            "user:PC7V2LM|oncall|service:PIJ90N7",
            {"escalationLevel": 3, "escalationLevels": [3], "escalationPolicyId": "PT20YPA"},
        ),
        (
            "user:PXPGF42|oncall|service:PIJ90N7",
            {"escalationLevel": 1, "escalationLevels": [1, 2], "escalationPolicyId": "PT20YPA"},
        ),
    ]


def test_service_without_policy_has_no_oncall_edges(
    service: dict[str, Any], oncalls: list[dict[str, Any]]
) -> None:
    service["escalation_policy"] = None
    assert oncall_edges_for_service(service, oncall_levels(oncalls)) == []


def test_build_graph_drops_edges_to_entities_not_in_the_graph(
    user: dict[str, Any],
    team: dict[str, Any],
    service: dict[str, Any],
    oncalls: list[dict[str, Any]],
) -> None:
    # team PT23IWX and user PAM4FGS are referenced but were not listed
    graph = build_graph(
        {"users": [user], "teams": [team], "services": [service], "oncalls": oncalls}, Build()
    )
    assert sorted(graph.entities) == ["service:PIJ90N7", "team:PQ9K7I8", "user:PXPGF42"]
    assert sorted(graph.relationships) == [
        "team:PQ9K7I8|assigned|service:PIJ90N7",
        "team:PQ9K7I8|has|user:PXPGF42",
        "user:PXPGF42|oncall|service:PIJ90N7",
    ]


def test_transforms_do_not_modify_their_input(
    user: dict[str, Any], service: dict[str, Any], oncalls: list[dict[str, Any]]
) -> None:
    before = copy.deepcopy((user, service, oncalls))
    build_graph({"users": [user], "services": [service], "oncalls": oncalls}, Build())
    assert (user, service, oncalls) == before
