"""A webhook is a signal: what the receiver keeps of a PagerDuty v3 event, and where it leads.

The receiver stores a `WebhookSignal` (never the payload: the worker re-reads the object);
the worker routes it. The event types pdgraph subscribes to live here, next to the routing
that acts on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

# What the worker acts on (SPEC §6): service changes, and the incident events that move who
# is paged (on-call matters then). Other incident.* types are accepted but need no delivery.
SERVICE_EVENTS = (
    "service.created",
    "service.updated",
    "service.deleted",
    "service.custom_field_values.updated",
)
INCIDENT_EVENTS = (
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.escalated",
    "incident.reassigned",
    "incident.delegated",
    "incident.reopened",
    "incident.resolved",
    "incident.responder.added",
    "incident.service_updated",
)
SUBSCRIBED_EVENTS = SERVICE_EVENTS + INCIDENT_EVENTS


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class WebhookSignal:
    """One delivered event, reduced to what routing needs; JSON-able (an RQ job argument)."""

    id: str
    event_type: str
    resource_type: str | None = None
    occurred_at: str | None = None
    resource_id: str | None = None
    service_id: str | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WebhookSignal:
        """From the `event` object of a verified delivery (it has `id` and `event_type`)."""
        data = _mapping(event.get("data"))
        service = _mapping(data.get("service"))
        return cls(
            id=str(event["id"]),
            event_type=str(event["event_type"]),
            resource_type=_optional_text(event.get("resource_type")),
            occurred_at=_optional_text(event.get("occurred_at")),
            resource_id=_optional_text(data.get("id")),
            service_id=_optional_text(service.get("id")),
        )

    @classmethod
    def from_job(cls, args: Mapping[str, Any]) -> WebhookSignal:
        """From the job argument `as_job()` wrote (unknown fields of older jobs ignored)."""
        fields: dict[str, Any] = {name: args.get(name) for name in cls.__dataclass_fields__}
        return cls(**fields)

    def as_job(self) -> dict[str, Any]:
        return asdict(self)

    def service_to_refresh(self) -> str | None:
        """The service whose subgraph this event may have changed (None: nothing to do).

        `service.*` → the service itself; `incident.*` → the incident's service (who is on
        call matters when incidents move); `pagey.ping` and other types → nothing.
        """
        if self.event_type.startswith("service."):
            return self.resource_id
        if self.event_type.startswith("incident."):
            return self.service_id
        return None

    def is_routed(self) -> bool:
        """Whether the type is one the worker acts on (service.* or incident.*)."""
        return self.event_type.startswith(("service.", "incident."))

    def describe(self) -> str:
        return f"{self.event_type} {self.resource_id or ''}".strip()


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)
