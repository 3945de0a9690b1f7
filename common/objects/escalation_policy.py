"""PagerDuty escalation policies → `pagerduty_escalation_policy` entities (Ruleset), and
the edges a policy owns: the schedules and users it escalates to (with the lowest level),
the services using it and its teams.

A Ruleset in JupiterOne's data model ("rules that govern … or monitor an IT system": its
escalation rules decide who is paged, in which order). Policy and Procedure, the other
candidates, are written documents (RecordEntity: title, summary and content required).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from common.graph import Entity, PropertyValue, Relationship
from common.objects.base import (
    AccountRead,
    Build,
    EdgeType,
    ObjectGraph,
    ObjectKind,
    PagerDutyObject,
    common_properties,
    key_of,
    without_nulls,
)
from common.objects.service import USES_POLICY
from common.objects.tag import object_tags, tag_properties

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

ESCALATION_POLICY = "pagerduty_escalation_policy"
POLICY_HAS_SCHEDULE = "pagerduty_escalation_policy_has_schedule"
POLICY_ASSIGNED_USER = "pagerduty_escalation_policy_assigned_user"
TEAM_HAS_POLICY = "pagerduty_team_has_escalation_policy"
HAS_SCHEDULE = EdgeType(POLICY_HAS_SCHEDULE, "HAS", "escalation_policy", "schedule")
# PagerDuty takes a deleted user out of the policies escalating to it.
ASSIGNED_USER = EdgeType(
    POLICY_ASSIGNED_USER, "ASSIGNED", "escalation_policy", "user", follows_deletion=True
)
TEAM_HAS = EdgeType(TEAM_HAS_POLICY, "HAS", "team", "escalation_policy")


def policy_key(policy_id: str) -> str:
    return key_of("escalation_policy", policy_id)


def policy_properties(policy: PagerDutyObject, build: Build) -> dict[str, PropertyValue]:
    rules = policy.get("escalation_rules") or []
    properties: dict[str, PropertyValue] = {
        **common_properties(policy, build.account_name),
        "numLoops": policy.get("num_loops"),
        "onCallHandoffNotifications": policy.get("on_call_handoff_notifications"),
        "levels": len(rules),
        "escalationDelays": [int(r.get("escalation_delay_in_minutes") or 0) for r in rules],
        **tag_properties(policy_key(policy["id"]), build),
    }
    return without_nulls(properties)


def _target_kind(target: PagerDutyObject) -> str:
    """ "user" or "schedule" (PagerDuty writes `user_reference`, `schedule_reference`)."""
    return str(target.get("type") or "").removesuffix("_reference")


def _lowest_levels(policy: PagerDutyObject, kind: str) -> dict[str, int]:
    """Target id → the lowest level (1-based) at which a target of this kind appears."""
    levels: dict[str, int] = {}
    for level, rule in enumerate(policy.get("escalation_rules") or [], start=1):
        for target in rule.get("targets") or []:
            if _target_kind(target) == kind and target.get("id"):
                levels.setdefault(target["id"], level)
    return levels


def policy_edges(policy: PagerDutyObject) -> list[Relationship]:
    """The policy's schedules and direct users (with the lowest level), the services using
    it, and its teams."""
    key = policy_key(policy["id"])
    return [
        *(
            HAS_SCHEDULE.between(key, key_of("schedule", sid), {"escalationLevel": level})
            for sid, level in sorted(_lowest_levels(policy, "schedule").items())
        ),
        *(
            ASSIGNED_USER.between(key, key_of("user", uid), {"escalationLevel": level})
            for uid, level in sorted(_lowest_levels(policy, "user").items())
        ),
        *(
            USES_POLICY.between(key_of("service", s["id"]), key)
            for s in policy.get("services") or []
        ),
        *(TEAM_HAS.between(key_of("team", t["id"]), key) for t in policy.get("teams") or []),
    ]


def list_policies(client: PagerDutyClient, read: AccountRead) -> Sequence[PagerDutyObject]:
    return client.list_escalation_policies(read.ids("teams"))


def read_policy(client: PagerDutyClient, policy_id: str, build: Build) -> ObjectGraph | None:
    """The policy (rules, services, teams) and its tags."""
    policy = client.get_escalation_policy(policy_id)
    if policy is None:
        return None
    return KIND.transform(policy, object_tags(client, "escalation_policy", policy_id, build))


KIND = ObjectKind(
    name="escalation_policy",
    listing="escalation_policies",
    stage=1,
    write_order=3,
    list_all=list_policies,
    entity_type=ESCALATION_POLICY,
    entity_class="Ruleset",
    properties=policy_properties,
    relationships=lambda policy, _: policy_edges(policy),
    edges=(HAS_SCHEDULE, ASSIGNED_USER, USES_POLICY, TEAM_HAS),
    read_one=read_policy,
    audited=True,
    light_refresh=True,
)


def transform_escalation_policy(policy: PagerDutyObject, account_name: str | None = None) -> Entity:
    return KIND.entity(policy, Build(account_name))
