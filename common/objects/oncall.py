"""Who is on call: the on-call edges from user to service (SPEC §5).

`/oncalls` lists, per escalation policy and level, who is on call now; a service's
on-call edges are its policy's (every level: `escalationLevel` the lowest a user is at,
`escalationLevels` all of them). The edge is `pagerduty_user_oncall_service` (ONCALL),
or under GRAPH_MODEL=jupiterone `pagerduty_user_monitors_service` (MONITORS), as
JupiterOne's own integration names it. On-calls change with shift hand-offs, which send
no webhook: worker/oncall.py re-reads them when each shift ends.

On-calls have no entity: the listing is read after the services (for their policies'
ids) and informs the services' transform (`prepare`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from common.graph import PropertyValue, Relationship
from common.objects.base import (
    SEED,
    AccountRead,
    Build,
    EdgeType,
    GraphModel,
    ObjectKind,
    OncallLevels,
    PagerDutyObject,
    key_of,
)

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

USER_ONCALL_SERVICE = "pagerduty_user_oncall_service"
USER_MONITORS_SERVICE = "pagerduty_user_monitors_service"  # GRAPH_MODEL=jupiterone
ONCALL = EdgeType(USER_ONCALL_SERVICE, "ONCALL", "user", "service", "seed", event_less=True)
MONITORS = EdgeType(
    USER_MONITORS_SERVICE,
    "MONITORS",
    "user",
    "service",
    "jupiterone",
    seed_type=USER_ONCALL_SERVICE,
    event_less=True,
)
ONCALL_TYPES = frozenset({USER_ONCALL_SERVICE, USER_MONITORS_SERVICE})


def oncall_levels(oncalls: Iterable[PagerDutyObject]) -> dict[str, dict[str, tuple[int, ...]]]:
    """escalation policy id → {user id → every level at which they are on call, ascending}."""
    levels: dict[str, dict[str, set[int]]] = {}
    for oncall in oncalls:
        policy = oncall.get("escalation_policy") or {}
        user = oncall.get("user") or {}
        level = oncall.get("escalation_level")
        if not policy.get("id") or not user.get("id") or level is None:
            continue
        levels.setdefault(policy["id"], {}).setdefault(user["id"], set()).add(int(level))
    return {
        pid: {uid: tuple(sorted(found)) for uid, found in by_user.items()}
        for pid, by_user in levels.items()
    }


def oncall_edge(
    user_id: str, service_id: str, properties: dict[str, PropertyValue], model: GraphModel
) -> Relationship:
    edge = MONITORS if model == "jupiterone" else ONCALL
    return edge.between(key_of("user", user_id), key_of("service", service_id), properties)


def oncall_edges_for_service(
    service: PagerDutyObject, levels_by_policy: OncallLevels, model: GraphModel = SEED
) -> list[Relationship]:
    """Every on-call user of every level of the service's policy (not one per policy)."""
    policy_id = (service.get("escalation_policy") or {}).get("id")
    if not policy_id:
        return []
    return [
        oncall_edge(
            user_id,
            service["id"],
            {
                "escalationLevel": levels[0],
                "escalationLevels": list(levels),
                "escalationPolicyId": policy_id,
            },
            model,
        )
        for user_id, levels in sorted(levels_by_policy.get(policy_id, {}).items())
    ]


def list_oncalls(client: PagerDutyClient, read: AccountRead) -> Sequence[PagerDutyObject]:
    """The on-calls of every policy a service uses (one request per 100 policies)."""
    policy_ids = sorted(
        {
            s["escalation_policy"]["id"]
            for s in read.listings.get("services", ())
            if s.get("escalation_policy")
        }
    )
    return client.list_oncalls(policy_ids)


def with_levels(oncalls: Sequence[PagerDutyObject], build: Build) -> Build:
    return replace(build, levels=oncall_levels(oncalls))


KIND = ObjectKind(
    name="oncall",
    listing="oncalls",
    stage=2,
    write_order=8,
    list_all=list_oncalls,
    edges=(ONCALL, MONITORS),
    prepare=with_levels,
)
