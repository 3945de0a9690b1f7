"""Team membership: the team HAS user edge (SPEC §5).

Owned by both ends: a user's re-read writes the teams it is in (the user's `teams`), a
team's re-read the users in it (`/teams/{id}/members`).
"""

from __future__ import annotations

from common.graph import Relationship
from common.objects.base import EdgeType, PagerDutyObject, key_of

TEAM_HAS_USER = "pagerduty_team_has_user"
HAS_USER = EdgeType(TEAM_HAS_USER, "HAS", "team", "user")


def team_has_user_edges(user: PagerDutyObject) -> list[Relationship]:
    """A HAS edge from each of the user's teams to the user."""
    return [
        HAS_USER.between(key_of("team", team["id"]), key_of("user", user["id"]))
        for team in user.get("teams") or []
    ]
