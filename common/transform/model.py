"""The graph's names (SPEC §5): `_type`s, `_key`s, and the two graph models.

`GRAPH_MODEL=seed` is the contract's model; `GRAPH_MODEL=jupiterone` writes the two edges
JupiterOne's own integration (graph-pagerduty 3.x) writes differently: the on-call edge is
`pagerduty_user_monitors_service` (MONITORS) and teams are related from the service
(`pagerduty_service_assigned_team`, service → team). Everything else is the same.
"""

from __future__ import annotations

from typing import Literal

from common.graph import PropertyValue, Relationship

GraphModel = Literal["seed", "jupiterone"]
SEED: GraphModel = "seed"

USER = "pagerduty_user"
TEAM = "pagerduty_team"
SERVICE = "pagerduty_service"
ESCALATION_POLICY = "pagerduty_escalation_policy"
SCHEDULE = "pagerduty_schedule"

TEAM_HAS_USER = "pagerduty_team_has_user"
TEAM_ASSIGNED_SERVICE = "pagerduty_team_assigned_service"
SERVICE_ASSIGNED_TEAM = "pagerduty_service_assigned_team"  # GRAPH_MODEL=jupiterone
USER_ONCALL_SERVICE = "pagerduty_user_oncall_service"
USER_MONITORS_SERVICE = "pagerduty_user_monitors_service"  # GRAPH_MODEL=jupiterone
SERVICE_USES_POLICY = "pagerduty_service_uses_escalation_policy"
POLICY_HAS_SCHEDULE = "pagerduty_escalation_policy_has_schedule"
POLICY_ASSIGNED_USER = "pagerduty_escalation_policy_assigned_user"
SCHEDULE_HAS_USER = "pagerduty_schedule_has_user"
TEAM_HAS_POLICY = "pagerduty_team_has_escalation_policy"
TEAM_HAS_SCHEDULE = "pagerduty_team_has_schedule"

ONCALL_TYPES = frozenset({USER_ONCALL_SERVICE, USER_MONITORS_SERVICE})


def user_key(user_id: str) -> str:
    return f"user:{user_id}"


def team_key(team_id: str) -> str:
    return f"team:{team_id}"


def service_key(service_id: str) -> str:
    return f"service:{service_id}"


def policy_key(policy_id: str) -> str:
    return f"escalation_policy:{policy_id}"


def schedule_key(schedule_id: str) -> str:
    return f"schedule:{schedule_id}"


# -- reading the graph back: what a key or object is, without matching substrings ----------

_ENTITY_TYPES = {
    "user": USER,
    "team": TEAM,
    "service": SERVICE,
    "escalation_policy": ESCALATION_POLICY,
    "schedule": SCHEDULE,
}
_RELATIONSHIP_TYPES = {
    (TEAM, "HAS", USER): TEAM_HAS_USER,
    (TEAM, "ASSIGNED", SERVICE): TEAM_ASSIGNED_SERVICE,
    (SERVICE, "ASSIGNED", TEAM): SERVICE_ASSIGNED_TEAM,
    (USER, "ONCALL", SERVICE): USER_ONCALL_SERVICE,
    (USER, "MONITORS", SERVICE): USER_MONITORS_SERVICE,
    (SERVICE, "USES", ESCALATION_POLICY): SERVICE_USES_POLICY,
    (ESCALATION_POLICY, "HAS", SCHEDULE): POLICY_HAS_SCHEDULE,
    (ESCALATION_POLICY, "ASSIGNED", USER): POLICY_ASSIGNED_USER,
    (SCHEDULE, "HAS", USER): SCHEDULE_HAS_USER,
    (TEAM, "HAS", ESCALATION_POLICY): TEAM_HAS_POLICY,
    (TEAM, "HAS", SCHEDULE): TEAM_HAS_SCHEDULE,
}
ENTITY_TYPES = frozenset(_ENTITY_TYPES.values())
# Every `_type` pdgraph writes, under either graph model (what `--type` may name).
GRAPH_TYPES = ENTITY_TYPES | frozenset(_RELATIONSHIP_TYPES.values())
# What webhooks keep current: a full sync that changes these found drift (users, teams,
# policies, schedules, memberships and shift hand-offs send no webhook; their changes are
# expected).
WEBHOOK_MAINTAINED_TYPES = frozenset(
    {SERVICE, TEAM_ASSIGNED_SERVICE, SERVICE_ASSIGNED_TEAM, SERVICE_USES_POLICY}
)


def entity_type_of(key: str) -> str | None:
    """The `_type` of the entity with this `_key` (`service:P1` → pagerduty_service)."""
    prefix, _, rest = key.partition(":")
    return _ENTITY_TYPES.get(prefix) if rest else None


def type_of_key(key: str) -> str | None:
    """The `_type` of the entity or relationship with this `_key` (None: not ours)."""
    parts = key.split("|")
    if len(parts) == 1:
        return entity_type_of(key)
    if len(parts) != 3:
        return None
    from_type, to_type = entity_type_of(parts[0]) or "", entity_type_of(parts[2]) or ""
    return _RELATIONSHIP_TYPES.get((from_type, parts[1].upper(), to_type))


def is_oncall_edge(key: str) -> bool:
    """Whether `key` is the `_key` of an on-call edge (ONCALL or, jupiterone model, MONITORS)."""
    return type_of_key(key) in ONCALL_TYPES


def oncall_edge(
    user_id: str, service_id: str, properties: dict[str, PropertyValue], model: GraphModel
) -> Relationship:
    type_, class_ = (
        (USER_MONITORS_SERVICE, "MONITORS")
        if model == "jupiterone"
        else (USER_ONCALL_SERVICE, "ONCALL")
    )
    return Relationship.between(
        type_, class_, user_key(user_id), service_key(service_id), properties
    )


def team_service_edge(team_id: str, service_id: str, model: GraphModel) -> Relationship:
    if model == "jupiterone":
        return Relationship.between(
            SERVICE_ASSIGNED_TEAM, "ASSIGNED", service_key(service_id), team_key(team_id)
        )
    return Relationship.between(
        TEAM_ASSIGNED_SERVICE, "ASSIGNED", team_key(team_id), service_key(service_id)
    )
