"""Business services, service dependencies, integrations, tags and maintenance windows: the
account's catalog around its services, changed like the web UI would change it.

PagerDuty announces none of these changes: no webhook, no audit record (pdgraph reads them
again instead). Their state is `Account.catalog` (a `Catalog`, with users' contact methods
and notification rules: sim/pagerduty/contacts.py); how the API shows them is
sim/pagerduty/catalog_views.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sim.pagerduty.audit import AuditTrail
from sim.pagerduty.escalation import EscalationPolicy
from sim.pagerduty.objects import base36, iso
from sim.pagerduty.vendors import VENDORS

Node = tuple[str, str]  # ("business_service" | "service", id): one end of a dependency
NODE_KINDS = ("business_service", "service")
TAGGABLE = ("user", "team", "escalation_policy")
BUSINESS_SERVICE_FIELDS = ("name", "description", "point_of_contact", "team_id")
# Integration types the spec's `Integration.type` lists.
INTEGRATION_TYPES = (
    "aws_cloudwatch_inbound_integration",
    "cloudkick_inbound_integration",
    "event_transformer_api_inbound_integration",
    "generic_email_inbound_integration",
    "generic_events_api_inbound_integration",
    "keynote_inbound_integration",
    "nagios_inbound_integration",
    "pingdom_inbound_integration",
    "sql_monitor_inbound_integration",
    "events_api_v2_inbound_integration",
)


@dataclass
class Catalog:
    """The account's objects beyond users, teams, services, policies and schedules. Their
    ids come from a counter of their own, so that a seed's other ids stay as they were."""

    business_services: dict[str, dict[str, Any]] = field(default_factory=dict)
    # id -> {"id", "dependent": Node, "supporting": Node}, oldest first
    dependencies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # id -> {"id", "type", "name", "service_id", "vendor_id", "created_at", "integration_key"}
    integrations: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"id", "label"}
    tagged: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # tag -> (kind, id)
    # id -> {"id", "sequence_number", "start", "end", "description", "service_ids",
    # "created_by"}; start and end in epoch seconds
    maintenance_windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    # user id -> id -> contact method / notification rule (sim/pagerduty/contacts.py)
    contact_methods: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    notification_rules: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    windows_created: int = 0  # a maintenance window's sequence_number
    next_id: int = 0

    def new_id(self, prefix: str, width: int = 5) -> str:
        self.next_id += 1
        return f"P{prefix}{base36(self.next_id, width)}"


def integration_key(integration_id: str, service_id: str) -> str:
    """The secret an integration's events are sent with (32 hex digits, like PagerDuty's);
    derived from the ids, so a seed's account always has the same keys."""
    digest = hashlib.sha256(f"sim-integration-key:{service_id}:{integration_id}".encode())
    return digest.hexdigest()[:32]


class CatalogEdits:
    """Mixed into Account: the attributes below are the account's."""

    users: dict[str, dict[str, Any]]
    teams: dict[str, dict[str, Any]]
    services: dict[str, dict[str, Any]]
    policies: dict[str, EscalationPolicy]
    catalog: Catalog
    audit: AuditTrail
    clock: Callable[[], float]
    changed: Callable[[], None]
    integration_webhooks: bool
    _announce: Callable[[str, str, dict[str, Any]], None]
    service_event_data: Callable[[dict[str, Any]], dict[str, Any]]

    @property
    def vendors(self) -> dict[str, dict[str, Any]]:
        """PagerDuty's vendor catalog (id -> vendor): fixed, the same for every account."""
        return VENDORS

    # -- business services -------------------------------------------------------------

    def add_business_service(
        self,
        name: str,
        *,
        description: str | None = None,
        point_of_contact: str | None = None,
        team_id: str | None = None,
    ) -> str:
        if team_id is not None and team_id not in self.teams:
            raise KeyError(team_id)
        bid = self.catalog.new_id("B")
        self.catalog.business_services[bid] = {
            "id": bid,
            "name": name,
            "description": description,
            "point_of_contact": point_of_contact,
            "team_id": team_id,
        }
        self.changed()
        return bid

    def update_business_service(self, business_service_id: str, **fields: Any) -> None:
        """Change any of BUSINESS_SERVICE_FIELDS (name, description, point_of_contact,
        team_id: a team's id or None)."""
        unknown = set(fields) - set(BUSINESS_SERVICE_FIELDS)
        if unknown:
            raise ValueError(f"not a business service field: {sorted(unknown)}")
        team_id = fields.get("team_id")
        if team_id is not None and team_id not in self.teams:
            raise KeyError(team_id)
        self.catalog.business_services[business_service_id].update(fields)
        self.changed()

    def delete_business_service(self, business_service_id: str) -> None:
        """Gone with its dependencies, both ways."""
        del self.catalog.business_services[business_service_id]
        self._forget("business_service", business_service_id)
        self.changed()

    # -- service dependencies ----------------------------------------------------------

    def node_exists(self, node: Node) -> bool:
        kind, node_id = node
        if kind not in NODE_KINDS:
            raise ValueError(f"a dependency joins {' or '.join(NODE_KINDS)}, not {kind!r}")
        return node_id in (
            self.catalog.business_services if kind == NODE_KINDS[0] else self.services
        )

    def add_dependency(self, dependent: Node, supporting: Node) -> str:
        """`dependent` depends on `supporting`, each ("business_service" | "service", id),
        e.g. `add_dependency(("business_service", bid), ("service", sid))`."""
        for node in (dependent, supporting):
            if not self.node_exists(node):
                raise KeyError(node[1])
        if dependent == supporting:
            raise ValueError("a service cannot depend on itself")
        if self.dependency_id(dependent, supporting) is not None:
            raise ValueError(f"{dependent} already depends on {supporting}")
        did = f"D{base36(self.catalog.next_id + 1, 15)}"  # the spec example's 16 characters
        self.catalog.next_id += 1
        self.catalog.dependencies[did] = {
            "id": did,
            "dependent": tuple(dependent),
            "supporting": tuple(supporting),
        }
        self.changed()
        return did

    def dependency_id(self, dependent: Node, supporting: Node) -> str | None:
        for did, dep in self.catalog.dependencies.items():
            if dep["dependent"] == tuple(dependent) and dep["supporting"] == tuple(supporting):
                return did
        return None

    def remove_dependency(self, dependent: Node, supporting: Node) -> None:
        did = self.dependency_id(dependent, supporting)
        if did is None:
            raise KeyError((dependent, supporting))
        del self.catalog.dependencies[did]
        self.changed()

    def dependencies_of(self, node: Node) -> list[dict[str, Any]]:
        """Every dependency `node` is either end of (the service_dependencies endpoints')."""
        node = (node[0], node[1])
        return [
            d
            for d in self.catalog.dependencies.values()
            if node in (d["dependent"], d["supporting"])
        ]

    # -- integrations -------------------------------------------------------------------

    def add_integration(
        self,
        service_id: str,
        name: str,
        *,
        type: str = "generic_events_api_inbound_integration",
        vendor_id: str | None = None,
        created_at: str | None = None,
    ) -> str:
        """An integration on a service: its events arrive with its secret `integration_key`."""
        if service_id not in self.services:
            raise KeyError(service_id)
        if vendor_id is not None and vendor_id not in VENDORS:
            raise KeyError(vendor_id)
        if type not in INTEGRATION_TYPES:
            raise ValueError(f"integration type {type!r} is not one of {INTEGRATION_TYPES}")
        iid = self.catalog.new_id("I")
        integration = {
            "id": iid,
            "type": type,
            "name": name,
            "service_id": service_id,
            "vendor_id": vendor_id,
            "created_at": created_at or iso(self.clock()),
            "integration_key": integration_key(iid, service_id),
        }
        if type == "generic_email_inbound_integration":
            integration["integration_email"] = f"{iid.lower()}@acme.pagerduty.test"
        self.catalog.integrations[iid] = integration
        self.changed()
        self._integrations_changed(service_id)
        return iid

    def remove_integration(self, service_id: str, integration_id: str) -> None:
        if self.catalog.integrations[integration_id]["service_id"] != service_id:
            raise KeyError(integration_id)
        del self.catalog.integrations[integration_id]
        self.changed()
        self._integrations_changed(service_id)

    def _integrations_changed(self, service_id: str) -> None:
        """`service.updated`, where this account is set to send it (`integration_webhooks`)."""
        if self.integration_webhooks:
            data = self.service_event_data(self.services[service_id])
            self._announce("service.updated", "service", data)

    def integrations_of(self, service_id: str) -> list[dict[str, Any]]:
        return [i for i in self.catalog.integrations.values() if i["service_id"] == service_id]

    # -- tags ---------------------------------------------------------------------------

    def add_tag(self, label: str) -> str:
        if any(t["label"].lower() == label.lower() for t in self.catalog.tags.values()):
            raise ValueError(f"a tag labelled {label!r} exists")
        tid = self.catalog.new_id("G")
        self.catalog.tags[tid] = {"id": tid, "label": label}
        self.catalog.tagged[tid] = []
        self.changed()
        return tid

    def _taggable(self, kind: str) -> dict[str, Any]:
        if kind not in TAGGABLE:
            raise ValueError(f"only a {', '.join(TAGGABLE)} is tagged, not {kind!r}")
        objects: dict[str, Any] = {"user": self.users, "team": self.teams}.get(kind, self.policies)
        return objects

    def tag(self, kind: str, object_id: str, tag_id: str) -> None:
        """Tag a user, team or escalation policy (again: nothing changes)."""
        if object_id not in self._taggable(kind):
            raise KeyError(object_id)
        tagged = self.catalog.tagged[tag_id]
        if (kind, object_id) not in tagged:
            tagged.append((kind, object_id))
            self.changed()

    def untag(self, kind: str, object_id: str, tag_id: str) -> None:
        self._taggable(kind)
        self.catalog.tagged[tag_id].remove((kind, object_id))  # ValueError: not tagged
        self.changed()

    def delete_tag(self, tag_id: str) -> None:
        del self.catalog.tags[tag_id]
        del self.catalog.tagged[tag_id]
        self.changed()

    def tags_of(self, kind: str, object_id: str) -> list[dict[str, Any]]:
        """The tags on an object, by label; KeyError when there is no such object."""
        if object_id not in self._taggable(kind):
            raise KeyError(object_id)
        tags = [
            self.catalog.tags[t]
            for t, tagged in self.catalog.tagged.items()
            if (kind, object_id) in tagged
        ]
        return sorted(tags, key=lambda t: (t["label"].lower(), t["id"]))

    def tagged_with(self, tag_id: str, kind: str) -> list[str]:
        """The ids of the `kind` objects a tag is on, in the order they were tagged."""
        self._taggable(kind)
        return [oid for k, oid in self.catalog.tagged[tag_id] if k == kind]

    # -- maintenance windows ------------------------------------------------------------

    def add_maintenance_window(
        self,
        service_ids: Iterable[str],
        start: float,
        end: float,
        description: str | None = None,
    ) -> str:
        """Services in maintenance from `start` to `end` (epoch seconds). As PagerDuty: a
        start in the past becomes now; the end must be in the future, after the start."""
        ids = list(dict.fromkeys(service_ids))
        if not ids:
            raise ValueError("a maintenance window needs a service")
        for sid in ids:
            if sid not in self.services:
                raise KeyError(sid)
        now = self.clock()
        start = max(start, now)
        if end <= start:
            raise ValueError("a maintenance window must end in the future, after it starts")
        actor = self.audit.actor
        mid = self.catalog.new_id("M")
        self.catalog.windows_created += 1
        self.catalog.maintenance_windows[mid] = {
            "id": mid,
            "sequence_number": self.catalog.windows_created,
            "start": float(start),
            "end": float(end),
            "description": description,
            "service_ids": ids,
            "created_by": actor.reference() if actor.type == "user_reference" else None,
        }
        self.changed()
        return mid

    def delete_maintenance_window(self, window_id: str) -> None:
        """As PagerDuty: a future window is deleted, an ongoing one ends now; one that has
        ended cannot be deleted (ValueError)."""
        window = self.catalog.maintenance_windows[window_id]
        now = self.clock()
        if window["end"] <= now:
            raise ValueError(f"maintenance window {window_id} has ended")
        if window["start"] > now:
            del self.catalog.maintenance_windows[window_id]
        else:
            window["end"] = now
        self.changed()

    # -- deletions elsewhere ------------------------------------------------------------

    def _forget(self, kind: str, object_id: str) -> None:
        """What goes with a deleted user, team, service, policy or business service."""
        c = self.catalog
        for tagged in c.tagged.values():
            tagged[:] = [t for t in tagged if t != (kind, object_id)]
        c.dependencies = {
            did: d
            for did, d in c.dependencies.items()
            if (kind, object_id) not in (d["dependent"], d["supporting"])
        }
        if kind == "team":
            for bs in c.business_services.values():
                bs["team_id"] = None if bs["team_id"] == object_id else bs["team_id"]
        elif kind == "user":
            c.contact_methods.pop(object_id, None)
            c.notification_rules.pop(object_id, None)
        elif kind == "service":
            c.integrations = {
                i: o for i, o in c.integrations.items() if o["service_id"] != object_id
            }
            for window in c.maintenance_windows.values():
                window["service_ids"] = [s for s in window["service_ids"] if s != object_id]
            c.maintenance_windows = {
                m: w for m, w in c.maintenance_windows.items() if w["service_ids"]
            }
