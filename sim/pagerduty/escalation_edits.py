"""Creating, editing and deleting escalation policies and schedules, as the web UI would.

PagerDuty sends no webhook for these: each change writes one audit record (a policy or
schedule `create` / `update` / `delete`, its changed fields as strings, its teams as a
`details.references[]` entry). PagerDuty refuses to delete a policy services still use
and a schedule a policy still targets (400, "Schedule can't be deleted if it's being used
by escalation policies"): so does the simulator (ValueError).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sim.pagerduty.audit import AuditTrail, fields_changed, members_changed
from sim.pagerduty.escalation import EscalationPolicy, Schedule
from sim.pagerduty.objects import ref

Levels = list[list[tuple[str, str]]]
POLICY_FIELDS = (
    "name",
    "levels",
    "num_loops",
    "escalation_delay_minutes",
    "on_call_handoff_notifications",
    "team_ids",
)
SCHEDULE_FIELDS = ("name", "rotation", "shift_seconds", "team_ids")


def _rules_text(levels: Levels) -> str:
    """A policy's targets as the audit record's string value: `user:PU1,schedule:PS2;...`."""
    return ";".join(",".join(f"{kind}:{tid}" for kind, tid in level) for level in levels)


def _audit_view(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields of a policy or schedule as its audit record writes them (teams aside)."""
    view = {name: getattr(obj, name) for name in names if name != "team_ids"}
    if "levels" in view:
        view["escalation_rules"] = _rules_text(view.pop("levels"))
    if "rotation" in view:
        view["users"] = ",".join(view.pop("rotation"))
    return view


class EscalationEdits:
    """Mixed into Account: the attributes below are the account's."""

    users: dict[str, dict[str, Any]]
    teams: dict[str, dict[str, Any]]
    services: dict[str, dict[str, Any]]
    policies: dict[str, EscalationPolicy]
    schedules: dict[str, Schedule]
    audit: AuditTrail
    clock: Callable[[], float]

    _forget: Callable[[str, str], None]

    def new_id(self, prefix: str) -> str:
        raise NotImplementedError

    def changed(self) -> None:
        raise NotImplementedError

    def _team_references(self, before: list[str], after: list[str]) -> list[dict[str, Any]]:
        def refs(ids: list[str]) -> list[dict[str, Any]]:
            return [ref("team", t, self.teams[t]["name"]) for t in ids if t in self.teams]

        added = refs([t for t in after if t not in before])
        removed = refs([t for t in before if t not in after])
        return [members_changed("teams", added, removed)] if added or removed else []

    def _record_edit(
        self, kind: str, obj: Any, action: str, before: dict[str, Any], before_teams: list[str]
    ) -> None:
        names = POLICY_FIELDS if kind == "escalation_policy" else SCHEDULE_FIELDS
        after = _audit_view(obj, names) if action != "delete" else {}
        fields = fields_changed(before, after)
        references = self._team_references(before_teams, obj.team_ids) if after else []
        self.audit.record(
            kind, obj.id, obj.name, action, fields=fields or None, references=references or None
        )

    # -- escalation policies ----------------------------------------------------------------

    def add_policy(
        self, name: str, levels: Levels, *, team_ids: Iterable[str] = (), **attrs: Any
    ) -> str:
        """A policy escalating through `levels` (per level: ("user"|"schedule", id) targets)."""
        pid = self.new_id("P")
        self.policies[pid] = EscalationPolicy(
            pid, name, [list(level) for level in levels], team_ids=list(team_ids), **attrs
        )
        self.changed()
        self._record_edit("escalation_policy", self.policies[pid], "create", {}, [])
        return pid

    def update_policy(self, policy_id: str, **changes: Any) -> None:
        """Change any of POLICY_FIELDS (name, levels, num_loops, team_ids, ...)."""
        unknown = set(changes) - set(POLICY_FIELDS)
        if unknown:
            raise ValueError(f"not a policy field: {sorted(unknown)}")
        policy = self.policies[policy_id]
        before, before_teams = _audit_view(policy, POLICY_FIELDS), list(policy.team_ids)
        for name, value in changes.items():
            setattr(policy, name, list(value) if name in ("levels", "team_ids") else value)
        self.changed()
        self._record_edit("escalation_policy", policy, "update", before, before_teams)

    def delete_policy(self, policy_id: str) -> None:
        used = sorted(
            sid for sid, s in self.services.items() if s["escalation_policy_id"] == policy_id
        )
        if used:
            raise ValueError(f"escalation policy {policy_id} is used by services {used}")
        policy = self.policies.pop(policy_id)
        self._forget("escalation_policy", policy_id)  # its tags (catalog.py)
        self.changed()
        self._record_edit("escalation_policy", policy, "delete", {}, [])

    # -- schedules -----------------------------------------------------------------------

    def add_schedule(
        self,
        name: str,
        rotation: list[str],
        *,
        team_ids: Iterable[str] = (),
        shift_seconds: int = 7 * 24 * 3600,
        epoch: float | None = None,
    ) -> str:
        """A one-layer schedule: each user of `rotation` on call for `shift_seconds` in turn."""
        sid = self.new_id("S")
        start = self.clock() if epoch is None else epoch
        self.schedules[sid] = Schedule(
            sid, name, list(rotation), shift_seconds, start, list(team_ids)
        )
        self.changed()
        self._record_edit("schedule", self.schedules[sid], "create", {}, [])
        return sid

    def update_schedule(self, schedule_id: str, **changes: Any) -> None:
        """Change any of SCHEDULE_FIELDS: rename, a new rotation, other teams."""
        unknown = set(changes) - set(SCHEDULE_FIELDS)
        if unknown:
            raise ValueError(f"not a schedule field: {sorted(unknown)}")
        schedule = self.schedules[schedule_id]
        before, before_teams = _audit_view(schedule, SCHEDULE_FIELDS), list(schedule.team_ids)
        for name, value in changes.items():
            setattr(schedule, name, list(value) if name in ("rotation", "team_ids") else value)
        self.changed()
        self._record_edit("schedule", schedule, "update", before, before_teams)

    def delete_schedule(self, schedule_id: str) -> None:
        using = sorted(
            p.id
            for p in self.policies.values()
            if any(t == ("schedule", schedule_id) for level in p.levels for t in level)
        )
        if using:
            raise ValueError(f"schedule {schedule_id} is used by escalation policies {using}")
        schedule = self.schedules.pop(schedule_id)
        self.changed()
        self._record_edit("schedule", schedule, "delete", {}, [])
