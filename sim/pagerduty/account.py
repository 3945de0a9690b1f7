"""The state of a simulated PagerDuty account, changed like the web UI would change it,
and read the way the REST API shows it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sim.pagerduty.account_views import AccountViews
from sim.pagerduty.audit import (
    Actor,
    AuditTrail,
    field_change,
    fields_changed,
    members_changed,
    user_actor,
)
from sim.pagerduty.catalog import Catalog, CatalogEdits
from sim.pagerduty.contacts import ContactEdits
from sim.pagerduty.escalation import EscalationPolicy, Schedule, oncall_entries
from sim.pagerduty.escalation_edits import EscalationEdits
from sim.pagerduty.generate import populate
from sim.pagerduty.generate_catalog import populate_catalog
from sim.pagerduty.objects import base36, by_name, iso, links, ref


@dataclass
class Account(AccountViews, CatalogEdits, ContactEdits, EscalationEdits):
    """The state of a simulated PagerDuty account. Methods change it like the web UI would
    (policies and schedules: sim/pagerduty/escalation_edits.py; business services,
    dependencies, integrations, tags, maintenance windows: catalog.py; users' contact
    methods and notification rules: contacts.py)."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, EscalationPolicy] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    catalog: Catalog = field(default_factory=Catalog)  # the rest (sim/pagerduty/catalog.py)
    clock: Callable[[], float] = time.time
    version: int = 0  # bumped by every change; keys the listing caches
    _next_id: int = 0
    _cache: dict[Any, Any] = field(default_factory=dict)
    # called with (event_type, resource_type, data) for every change PagerDuty announces
    listeners: list[Callable[[str, str, dict[str, Any]], None]] = field(default_factory=list)
    _incidents: int = 0
    # (team id, user id) -> the member's role in that team, where set; else member_role()
    team_roles: dict[tuple[str, str], str] = field(default_factory=dict)
    # every change, as `GET /audit/records` shows it (sim/pagerduty/audit.py)
    audit: AuditTrail = field(init=False)
    # schedule id -> the last (since, until) its final schedule was read for: the window
    # the test oracle computes that schedule's coverage over
    coverage_windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Whether adding or removing a service's integration sends `service.updated`: PagerDuty
    # does not document it, so the simulator does either (pdgraph must be right both ways).
    integration_webhooks: bool = False

    def __post_init__(self) -> None:
        self.audit = AuditTrail(lambda: self.clock())

    def acting_as(self, actor: Actor) -> AbstractContextManager[Actor]:
        """Changes made inside are recorded as `actor`'s (by its method); outside, as the
        account owner's in the browser (sim/pagerduty/audit.py)."""
        return self.audit.acting_as(actor)

    def user_actor(self, user_id: str, method: str = "browser", token: str | None = None) -> Actor:
        """This account's user as the actor of a change: its real id and name."""
        return user_actor(user_id, self.users[user_id]["name"], method, token)

    def _announce(self, event_type: str, resource_type: str, data: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event_type, resource_type, data)

    def service_event_data(self, service: dict[str, Any]) -> dict[str, Any]:
        """A service webhook's `data`: no name, no escalation policy (re-read the service)."""
        return {
            **ref("service", service["id"], service["name"], reference=False),
            "alert_creation": service["alert_creation"],
            "teams": self._team_refs(service["team_ids"]),
        }

    def changed(self) -> None:
        self.version += 1
        self._cache.clear()

    def sorted_by_name(self, kind: str) -> list[dict[str, Any]]:
        """Users, teams or services in PagerDuty's listing order (by name)."""
        key = ("sorted", kind)
        if key not in self._cache:
            self._cache[key] = sorted(getattr(self, kind).values(), key=by_name)
        result: list[dict[str, Any]] = self._cache[key]
        return result

    def search(self, kind: str, query: str | None) -> list[dict[str, Any]]:
        """PagerDuty's `query`: a case-insensitive substring of the name (users: or email)."""
        items = self.sorted_by_name(kind)
        if not query:
            return items
        key = ("texts", kind)
        if key not in self._cache:
            fields = ("name", "email") if kind == "users" else ("name",)
            self._cache[key] = [[str(o.get(f) or "").lower() for f in fields] for o in items]
        q = query.lower()
        texts: list[list[str]] = self._cache[key]
        return [o for o, t in zip(items, texts, strict=True) if any(q in f for f in t)]

    def new_id(self, prefix: str) -> str:
        self._next_id += 1
        return f"P{prefix}{base36(self._next_id, 5)}"

    @classmethod
    def generate(
        cls,
        seed: int = 1,
        users: int = 100,
        teams: int | None = None,
        services: int | None = None,
        *,
        shift_seconds: int = 7 * 24 * 3600,
        clock: Callable[[], float] = time.time,
        catalog: bool = False,
    ) -> Account:
        """A deterministic account: teams and services default to 1:10 and 1:2 of users;
        every user with its email as a contact method, notified of high-urgency incidents.
        `catalog`: with business services, dependencies, integrations, tags, a maintenance
        window and users not notified of high urgency (generate_catalog.populate_catalog)."""
        account = cls(clock=clock)
        with account.audit.paused():  # the generated objects predate any audit window
            populate(
                account,
                random.Random(seed),
                users=users,
                teams=users // 10 if teams is None else teams,
                services=users // 2 if services is None else services,
                shift_seconds=shift_seconds,
            )
            if catalog:
                populate_catalog(account, random.Random(seed))
        return account

    def add_team(self, name: str, description: str | None = None) -> str:
        tid = self.new_id("T")
        self.teams[tid] = {
            "id": tid,
            "type": "team",
            "name": name,
            "description": description,
            "default_role": "manager",
        }
        self.changed()
        fields = [field_change("name", None, name), field_change("description", None, description)]
        self.audit.record("team", tid, name, "create", fields=fields)
        return tid

    def add_user(
        self,
        name: str,
        email: str,
        *,
        role: str = "user",
        team_ids: Iterable[str] = (),
        **attrs: Any,
    ) -> str:
        uid = self.new_id("U")
        self.users[uid] = {
            "id": uid,
            "type": "user",
            "name": name,
            "email": email,
            "role": role,
            "team_ids": list(team_ids),
            "job_title": attrs.get("job_title"),
            "time_zone": attrs.get("time_zone", "UTC"),
            "billed": attrs.get("billed", True),
            "invitation_sent": attrs.get("invitation_sent", False),
            "description": attrs.get("description"),
            "color": "purple",
        }
        self.changed()
        with self.audit.request():
            created = ("name", "email", "role", "job_title", "time_zone")
            fields = [field_change(k, None, self.users[uid][k]) for k in created]
            self.audit.record("user", uid, name, "create", fields=fields)
            for team_id in [t for t in self.users[uid]["team_ids"] if t in self.teams]:
                self._record_members(team_id, uid, "added")
        if email:
            # What PagerDuty creates with a user (as generate does; recorded as the user's
            # creation, not as changes of their own).
            with self.audit.paused():
                cm = self.add_contact_method(uid, "email_contact_method", email, "Default")
                self.add_notification_rule(uid, cm, "high", 0)
        return uid

    def update_user(self, user_id: str, **changes: Any) -> None:
        """Change a user's fields (name, email, role, job_title, ...); PagerDuty sends no
        webhook, only the audit record with each field's before and after value."""
        if "team_ids" in changes:
            raise ValueError("team membership changes through add_member / remove_member")
        user = self.users[user_id]
        fields = fields_changed(user, changes)
        user.update(changes)
        self.changed()
        if fields:
            self.audit.record("user", user_id, user["name"], "update", fields=fields)

    def add_member(self, team_id: str, user_id: str, role: str | None = None) -> None:
        """Put a user in a team (with a team role, else member_role()'s default)."""
        team_ids = self.users[user_id]["team_ids"]
        if team_id not in self.teams or team_id in team_ids:
            raise KeyError(team_id)
        team_ids.append(team_id)
        if role is not None:
            self.team_roles[(team_id, user_id)] = role
        self.changed()
        self._record_members(team_id, user_id, "added")

    def remove_member(self, team_id: str, user_id: str) -> None:
        self.users[user_id]["team_ids"].remove(team_id)
        self.team_roles.pop((team_id, user_id), None)
        self.changed()
        self._record_members(team_id, user_id, "removed")

    def _record_members(self, team_id: str, user_id: str, how: str) -> None:
        """A membership change: the team's `update` with a `members` reference (the spec's
        AuditRecordResponse example)."""
        team, user = self.teams[team_id], self.users[user_id]
        users = [ref("user", user_id, user["name"])]
        added, removed = (users, []) if how == "added" else ([], users)
        change = members_changed("members", added, removed)
        self.audit.record("team", team_id, team["name"], "update", references=[change])

    def add_service(
        self, name: str, *, escalation_policy_id: str, team_ids: Iterable[str] = (), **attrs: Any
    ) -> str:
        sid = self.new_id("V")
        self.services[sid] = {
            "id": sid,
            "type": "service",
            "name": name,
            "description": attrs.get("description"),
            "status": attrs.get("status", "active"),
            "created_at": attrs.get("created_at") or iso(self.clock()),
            "last_incident_timestamp": attrs.get("last_incident_timestamp"),
            "escalation_policy_id": escalation_policy_id,
            "team_ids": list(team_ids),
            "alert_creation": attrs.get("alert_creation", "create_alerts_and_incidents"),
            "auto_resolve_timeout": attrs.get("auto_resolve_timeout"),
            "acknowledgement_timeout": attrs.get("acknowledgement_timeout"),
        }
        self.changed()
        self._record_service(sid, "create", {}, self.services[sid])
        self._announce("service.created", "service", self.service_event_data(self.services[sid]))
        return sid

    def update_service(self, service_id: str, **changes: Any) -> None:
        """Change fields (name, status, team_ids, escalation_policy_id, ...): service.updated."""
        before = dict(self.services[service_id])
        self.services[service_id].update(changes)
        self.changed()
        self._record_service(service_id, "update", before, changes)
        self._announce(
            "service.updated", "service", self.service_event_data(self.services[service_id])
        )

    def delete_service(self, service_id: str) -> None:
        service = self.services.pop(service_id)
        data: dict[str, Any] = self.service_event_data(service)
        self._forget("service", service_id)
        self.changed()
        self.audit.record("service", service_id, service["name"], "delete")
        self._announce("service.deleted", "service", data)

    def _record_service(
        self, service_id: str, action: str, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """A service's audit record: changed scalar fields, and its teams as a reference."""
        scalars = {k: v for k, v in after.items() if k not in ("id", "type", "team_ids")}
        old_teams = before.get("team_ids", [])
        new_teams = after.get("team_ids", old_teams)
        teams = members_changed(
            "teams",
            self._team_refs([t for t in new_teams if t not in old_teams]),
            self._team_refs([t for t in old_teams if t not in new_teams]),
        )
        name = self.services[service_id]["name"]
        references = [teams] if len(teams) > 1 else None
        fields = fields_changed(before, scalars)
        self.audit.record("service", service_id, name, action, fields=fields, references=references)

    def trigger_incident(self, service_id: str, event_type: str = "incident.triggered") -> str:
        """An incident event on a service (escalations are when on-call matters)."""
        service = self.services[service_id]
        self._incidents += 1
        number = self._incidents
        incident_id = f"PI{base36(number, 5)}"
        pid = service["escalation_policy_id"]
        policy = self.policies.get(pid)  # a service may name a policy the API does not show
        data: dict[str, Any] = {
            "id": incident_id,
            "type": "incident",
            "number": number,
            "status": "triggered",
            "incident_key": f"key-{number}",
            "created_at": iso(self.clock()),
            "title": f"Incident {number} on {service['name']}",
            "service": ref("service", service_id, service["name"]),
            "assignees": [],
            "escalation_policy": ref("escalation_policy", pid, policy.name if policy else pid),
            "teams": [],
            "priority": None,
            "urgency": "high",
            "conference_bridge": None,  # as PagerDuty sends it (tests/fixtures/webhooks)
            "resolve_reason": None,
            **links("incident", incident_id),
        }
        self._announce(event_type, "incident", data)
        return incident_id

    def rotate_oncall(self, policy_id: str, user_id: str) -> None:
        """Put `user_id` alone on level 1 of the policy. PagerDuty sends no event for this."""
        policy = self.policies[policy_id]
        before = ",".join(target_id for _, target_id in policy.levels[0])
        policy.levels[0] = [("user", user_id)]
        self.changed()
        fields = [field_change("escalation_rules[0].targets", before, user_id)]
        self.audit.record("escalation_policy", policy_id, policy.name, "update", fields=fields)

    def delete_user(self, user_id: str) -> None:
        user = self.users.pop(user_id)
        for schedule in self.schedules.values():
            schedule.rotation = [u for u in schedule.rotation if u != user_id] or schedule.rotation
        for policy in self.policies.values():
            policy.levels = [[t for t in lvl if t != ("user", user_id)] for lvl in policy.levels]
        self._forget("user", user_id)
        self.changed()
        self.audit.record("user", user_id, user["name"], "delete")

    def delete_team(self, team_id: str) -> None:
        team = self.teams.pop(team_id)
        for obj in (*self.users.values(), *self.services.values()):
            obj["team_ids"] = [t for t in obj["team_ids"] if t != team_id]
        for policy in self.policies.values():
            policy.team_ids = [t for t in policy.team_ids if t != team_id]
        for schedule in self.schedules.values():
            schedule.team_ids = [t for t in schedule.team_ids if t != team_id]
        self._forget("team", team_id)
        self.changed()
        self.audit.record("team", team_id, team["name"], "delete")

    # -- the API's view (teams, users, services: account_views.py) -------------------

    def member_role(self, team_id: str, user_id: str) -> str:
        """A team member's role: as set, else managers for admins and owners, else responders."""
        default = "manager" if self.users[user_id]["role"] in ("admin", "owner") else "responder"
        return self.team_roles.get((team_id, user_id), default)

    def oncalls_between(self, since: float, until: float) -> list[dict[str, Any]]:
        """`GET /oncalls?since&until`: every shift overlapping the window."""
        return oncall_entries(self.policies, self.schedules, self.users, since, until)

    def oncalls_now(self) -> list[dict[str, Any]]:
        now = self.clock()
        key = ("oncalls", int(now))  # recomputed at most once a second
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] != "oncalls"}
            self._cache[key] = oncall_entries(self.policies, self.schedules, self.users, now)
        result: list[dict[str, Any]] = self._cache[key]
        return result
