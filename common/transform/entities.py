"""PagerDuty users, teams and services → entities that JupiterOne's data model accepts.

A property whose value would be null is left out (the data model types `description` and
most others as non-null), except the User properties the data model requires and allows
to be null (`lastName` of a one-word name).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from common.graph import Entity, PropertyValue
from common.transform.model import SERVICE, TEAM, USER, service_key, team_key, user_key

ADMIN_ROLES = frozenset({"admin", "owner"})
# Required by the data model's User schema, typed there as "value or null".
_USER_NULLABLE = frozenset({"firstName", "lastName", "email", "username", "shortLoginId"})

PagerDutyObject = Mapping[str, Any]


def epoch_ms(timestamp: str | None) -> int | None:
    """ISO 8601 (PagerDuty's format) → epoch milliseconds, as JupiterOne wants times."""
    if not timestamp:
        return None
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


def without_nulls(
    properties: Mapping[str, PropertyValue], keep: frozenset[str] = frozenset()
) -> dict[str, PropertyValue]:
    return {k: v for k, v in properties.items() if v is not None or k in keep}


def common_properties(obj: PagerDutyObject, account_name: str | None) -> dict[str, PropertyValue]:
    name = obj.get("name") or obj.get("summary") or obj["id"]
    properties: dict[str, PropertyValue] = {
        "id": obj["id"],
        "name": name,
        "displayName": name,
        "summary": obj.get("summary"),
        "description": obj.get("description"),
        "webLink": obj.get("html_url"),
    }
    if account_name:
        properties["tag.AccountName"] = account_name
    return properties


def _names(user: PagerDutyObject) -> tuple[str | None, str | None]:
    """(firstName, lastName): the name split at its first space; no last name for one word."""
    first, _, last = str(user.get("name") or "").strip().partition(" ")
    return first or None, last.strip() or None


def _email_parts(email: str | None) -> tuple[list[str] | None, list[str] | None]:
    """(shortLoginId, emailDomain) of an address, each as the data model's one-item array."""
    if not email or "@" not in email:
        return None, None
    login, _, domain = email.rpartition("@")
    return [login], [domain.lower()]


def transform_user(user: PagerDutyObject, account_name: str | None = None) -> Entity:
    role = user.get("role")
    email = user.get("email")
    first_name, last_name = _names(user)
    short_login, domain = _email_parts(email)
    properties: dict[str, PropertyValue] = {
        **common_properties(user, account_name),
        "email": [email] if email else None,
        "username": [email] if email else None,
        "shortLoginId": short_login,
        "emailDomain": domain,
        "firstName": first_name,
        "lastName": last_name,
        "role": role,
        "admin": role in ADMIN_ROLES,
        # PagerDuty deletes users rather than deactivating them: a listed user is active.
        "active": True,
        "isActive": True,
        "jobTitle": user.get("job_title"),
        "timeZone": user.get("time_zone"),
        "billed": user.get("billed"),
        "invitationSent": user.get("invitation_sent"),
    }
    return Entity(
        key=user_key(user["id"]),
        type=USER,
        class_="User",
        properties=without_nulls(properties, keep=_USER_NULLABLE),
    )


def transform_team(team: PagerDutyObject, account_name: str | None = None) -> Entity:
    return Entity(
        key=team_key(team["id"]),
        type=TEAM,
        class_="Team",
        properties=without_nulls(common_properties(team, account_name)),
    )


def transform_service(service: PagerDutyObject, account_name: str | None = None) -> Entity:
    status = service.get("status")
    policy = service.get("escalation_policy") or {}
    properties: dict[str, PropertyValue] = {
        **common_properties(service, account_name),
        "status": status,
        "active": status != "disabled",
        "category": ["software"],
        "function": ["monitoring"],
        "endpoints": [service["html_url"]] if service.get("html_url") else [],
        "createdOn": epoch_ms(service.get("created_at")),
        "lastIncidentOn": epoch_ms(service.get("last_incident_timestamp")),
        "escalationPolicyId": policy.get("id"),
        "alertCreation": service.get("alert_creation"),
        "autoResolveTimeout": service.get("auto_resolve_timeout"),
        "acknowledgementTimeout": service.get("acknowledgement_timeout"),
    }
    return Entity(
        key=service_key(service["id"]),
        type=SERVICE,
        class_="Service",
        properties=without_nulls(properties),
    )
