"""A webhook is a signal: what the receiver keeps of a PagerDuty v3 event, and where it leads.

The receiver stores a `WebhookSignal` (never the payload: the worker re-reads the object);
the worker routes it. The event types pdgraph subscribes to live here, next to the routing
that acts on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, NoReturn

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


# PagerDuty's ids are short (event ids are 26-character ULIDs); a bound keeps job ids,
# log lines and Redis keys small whatever a signed body holds.
MAX_TEXT_LENGTH = 256


class InvalidEvent(ValueError):
    """A signed body that is not a PagerDuty event pdgraph can store (the receiver: 400)."""


def _reject_constant(name: str) -> NoReturn:
    raise InvalidEvent(f"{name} is not JSON")  # NaN, Infinity: Python's json accepts them


def _text(value: Any, name: str) -> str:
    """`value` if it is a string of 1 to MAX_TEXT_LENGTH printable characters (a lone
    surrogate is neither printable nor encodable, so it cannot reach a job id)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT_LENGTH:
        raise InvalidEvent(f"{name} must be a string of 1 to {MAX_TEXT_LENGTH} characters")
    if not value.isprintable():
        raise InvalidEvent(f"{name} must be printable text")
    return value


def _optional_text(value: Any, name: str) -> str | None:
    return None if value is None else _text(value, name)


def _object(value: Any, name: str) -> Mapping[str, Any]:
    """An optional JSON object (absent or null: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidEvent(f"{name} must be an object")
    return value


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
    def from_body(cls, body: bytes) -> WebhookSignal:
        """From a verified delivery's raw body; InvalidEvent when it is not a JSON object
        with a valid `event` (the one place a signed body is judged)."""
        try:
            payload = json.loads(body, parse_constant=_reject_constant)
        except InvalidEvent:
            raise
        except RecursionError:  # nested past Python's recursion limit
            raise InvalidEvent("body is nested too deeply") from None
        except ValueError:  # not JSON, not UTF-8, an integer past 4,300 digits
            raise InvalidEvent("body is not JSON") from None
        if not isinstance(payload, Mapping) or "event" not in payload:
            raise InvalidEvent("body is not a JSON object with an event")
        return cls.from_event(_object(payload["event"], "event"))

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WebhookSignal:
        """From the `event` object of a verified delivery; InvalidEvent unless `id` and
        `event_type` are printable strings and every field read has its JSON type."""
        data = _object(event.get("data"), "event.data")
        service = _object(data.get("service"), "event.data.service")
        return cls(
            id=_text(event.get("id"), "event.id"),
            event_type=_text(event.get("event_type"), "event.event_type"),
            resource_type=_optional_text(event.get("resource_type"), "event.resource_type"),
            occurred_at=_optional_text(event.get("occurred_at"), "event.occurred_at"),
            resource_id=_optional_text(data.get("id"), "event.data.id"),
            service_id=_optional_text(service.get("id"), "event.data.service.id"),
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
