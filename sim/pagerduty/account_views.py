"""How the REST API shows the account's teams, users and services (mixed into Account)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sim.pagerduty.catalog_views import integration_ref
from sim.pagerduty.escalation import EscalationPolicy
from sim.pagerduty.objects import links, ref


class AccountViews:
    """Mixed into Account: the attributes below are the account's."""

    teams: dict[str, dict[str, Any]]
    policies: dict[str, EscalationPolicy]
    contact_fields: Callable[..., dict[str, Any]]  # contacts.py
    integrations_of: Callable[[str], list[dict[str, Any]]]  # catalog.py

    _links = staticmethod(links)  # tests/expected.py builds html_url with it

    def _team_refs(self, team_ids: list[str]) -> list[dict[str, Any]]:
        return [ref("team", t, self.teams[t]["name"]) for t in team_ids if t in self.teams]

    def team_json(self, team: dict[str, Any]) -> dict[str, Any]:
        return {
            **ref("team", team["id"], team["name"], reference=False),
            "name": team["name"],
            "description": team["description"],
            "default_role": team["default_role"],
        }

    def user_json(self, user: dict[str, Any], include: Iterable[str] = ()) -> dict[str, Any]:
        """`include[]=contact_methods|notification_rules` expands those references."""
        out = {k: v for k, v in user.items() if k != "team_ids"}
        out["summary"] = user["name"]
        out["avatar_url"] = f"https://avatars.example.test/{user['id']}.png"
        out["teams"] = self._team_refs(user["team_ids"])
        out.update(self.contact_fields(user["id"], include))
        out.update(links("user", user["id"]))
        return out

    def service_json(self, service: dict[str, Any], include_teams: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in service.items() if k not in ("team_ids", "escalation_policy_id")}
        out["summary"] = service["name"]
        pid = service["escalation_policy_id"]
        policy = self.policies.get(pid)
        out["escalation_policy"] = ref("escalation_policy", pid, policy.name if policy else pid)
        teams = [self.teams[t] for t in service["team_ids"] if t in self.teams]
        out["teams"] = (
            [{**self.team_json(t)} for t in teams]
            if include_teams
            else [ref("team", t["id"], t["name"]) for t in teams]
        )
        out["integrations"] = [integration_ref(i) for i in self.integrations_of(service["id"])]
        out.update(links("service", service["id"]))
        return out
