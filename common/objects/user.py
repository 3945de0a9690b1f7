"""PagerDuty users → `pagerduty_user` entities (User) and their team memberships.

A property whose value would be null is left out (the data model types most as
non-null), except the User properties the data model requires and allows to be null
(`lastName` of a one-word name).
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

USER = "pagerduty_user"
ADMIN_ROLES = frozenset({"admin", "owner"})
# Required by the data model's User schema, typed there as "value or null".
_USER_NULLABLE = frozenset({"firstName", "lastName", "email", "username", "shortLoginId"})


def user_key(user_id: str) -> str:
    return key_of("user", user_id)


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


def user_properties(user: PagerDutyObject, build: Build) -> dict[str, PropertyValue]:
    role = user.get("role")
    email = user.get("email")
    first_name, last_name = _names(user)
    short_login, domain = _email_parts(email)
    properties: dict[str, PropertyValue] = {
        **common_properties(user, build.account_name),
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
        **reachability(user),
        **tag_properties(user_key(user["id"]), build),
    }
    return without_nulls(properties, keep=_USER_NULLABLE)


def reachability(user: PagerDutyObject) -> dict[str, PropertyValue]:
    """`contactMethodTypes` (sorted distinct kinds: email, phone, sms, push_notification)
    and `notifiedOnHighUrgency`: a high-urgency notification rule on one of its contact
    methods (PagerDuty pages a user on call through those; without one, into silence)."""
    methods = [m for m in user.get("contact_methods") or [] if m.get("id")]
    kinds = {
        str(m.get("type") or "").removesuffix("_reference").removesuffix("_contact_method")
        for m in methods
    }
    ids = {m["id"] for m in methods}
    notified = any(
        rule.get("urgency") == "high" and (rule.get("contact_method") or {}).get("id") in ids
        for rule in user.get("notification_rules") or []
    )
    return {"contactMethodTypes": sorted(kinds - {""}), "notifiedOnHighUrgency": notified}


def read_user(client: PagerDutyClient, user_id: str, build: Build) -> ObjectGraph | None:
    """The user (with its contact methods and notification rules) and its tags."""
    user = client.get_user(user_id)
    if user is None:
        return None
    return KIND.transform(user, object_tags(client, "user", user_id, build))


def list_users(client: PagerDutyClient, read: AccountRead) -> Sequence[PagerDutyObject]:
    return client.list_users(read.ids("teams"))


KIND = ObjectKind(
    name="user",
    listing="users",
    stage=1,
    write_order=1,
    list_all=list_users,
    entity_type=USER,
    entity_class="User",
    properties=user_properties,
    relationships=lambda user, _: team_has_user_edges(user),
    edges=(HAS_USER,),
    read_one=read_user,
    audited=True,
    light_refresh=True,
)


def transform_user(user: PagerDutyObject, account_name: str | None = None) -> Entity:
    return KIND.entity(user, Build(account_name))
