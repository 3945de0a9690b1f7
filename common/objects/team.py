"""PagerDuty teams → `pagerduty_team` entities (Team).

Listed first (`/teams`; the other listings ask for each object's teams by team id), and
only where the account has the Teams feature: `/abilities` lacks "teams" elsewhere, and
`/teams` fails there. A team's re-read also reads its members (the HAS user edges).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from common.graph import Entity, PropertyValue
from common.objects.base import (
    AccountRead,
    Build,
    ObjectGraph,
    ObjectKind,
    PagerDutyObject,
    common_properties,
    key_of,
    without_nulls,
)
from common.objects.membership import HAS_USER, team_has_user_edges
from common.objects.tag import object_tags, tag_properties

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

TEAM = "pagerduty_team"


def team_key(team_id: str) -> str:
    return key_of("team", team_id)


def list_teams(client: PagerDutyClient, _: AccountRead) -> Sequence[PagerDutyObject]:
    return client.list_teams() if "teams" in client.abilities() else []


def team_properties(team: PagerDutyObject, build: Build) -> dict[str, PropertyValue]:
    properties = {
        **common_properties(team, build.account_name),
        **tag_properties(team_key(team["id"]), build),
    }
    return without_nulls(properties)


def read_team(client: PagerDutyClient, team_id: str, build: Build) -> ObjectGraph | None:
    """The team and a HAS edge to each member (`/teams/{id}/members`, every page)."""
    team = client.get_team(team_id)
    members = client.team_members(team_id) if team is not None else None
    if team is None or members is None:
        return None
    ref = {"id": team_id}
    edges = [
        edge
        for member in members
        if (member.get("user") or {}).get("id")
        for edge in team_has_user_edges({"id": member["user"]["id"], "teams": [ref]})
    ]
    return [KIND.entity(team, object_tags(client, "team", team_id, build))], edges


KIND = ObjectKind(
    name="team",
    listing="teams",
    stage=0,
    write_order=0,
    list_all=list_teams,
    entity_type=TEAM,
    entity_class="Team",
    properties=team_properties,
    edges=(HAS_USER,),
    read_one=read_team,
    audited=True,
    light_refresh=True,
)


def transform_team(team: PagerDutyObject, account_name: str | None = None) -> Entity:
    return KIND.entity(team, Build(account_name))
