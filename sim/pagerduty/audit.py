"""The account's audit trail, as `GET /audit/records` shows it.

Shapes from PagerDuty's spec (`AuditRecord`, its example `AuditRecordResponse`): a record per
changed root resource, `details.fields[]` with `before_value` / `value` as strings, a team's
membership as a team `update` whose `details.references[]` names `members` added / removed.
Served newest first with cursor pagination; one change can write several records that share
`execution_context.request_id` (a user created into teams: the user `create` and each team's
`update`).

Each record names who made the change (`actors[]`: a user of the account, an API key or an
app) and by which means (`method`: browser, oauth, api_token, identity_provider, other).
The account owner in the browser unless a change is made inside `acting_as(actor)`:

    with account.acting_as(api_key_actor("PKEYTF1", "Terraform", token="...+Yx3")):
        account.update_user(user_id, role="admin")
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sim.pagerduty.objects import base36, iso, ref

# what `root_resource_types[]` names -> the record's `root_resource.type`
ROOT_TYPES = {
    "users": "user",
    "teams": "team",
    "escalation_policies": "escalation_policy",
    "schedules": "schedule",
    "services": "service",
    "ip_allow_lists": "ip_allow_list",  # the spec lists it; the simulator writes none
}
DAY = 24 * 3600
MAX_WINDOW = 31 * DAY  # `until` may not be more than 31 days after `since`
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
ACTIONS = ("create", "update", "delete")
# The spec's `actor_type` and `method_type` enums (openapiv3 `audit_actor_type`,
# `audit_method_type`).
ACTOR_TYPES = ("user_reference", "api_key_reference", "app_reference")
METHOD_TYPES = ("browser", "oauth", "api_token", "identity_provider", "other")
# The spec: a browser session's and an identity provider's token is never returned; oauth
# and api_token return the token's last 4 characters; `other` may.
NO_TOKEN = ("browser", "identity_provider")
TOKEN = ("oauth", "api_token")


@dataclass(frozen=True)
class Actor:
    """Who makes a change and by which means: a record's `actors[]` entry and `method`."""

    id: str
    type: str  # one of ACTOR_TYPES
    summary: str  # a user's name, an API key's description, an app's name
    method: str = "browser"  # one of METHOD_TYPES
    truncated_token: str | None = None  # the token's last 4 characters (oauth, api_token)

    def __post_init__(self) -> None:
        if self.type not in ACTOR_TYPES:
            raise ValueError(f"actor type {self.type!r} is not one of {ACTOR_TYPES}")
        if self.method not in METHOD_TYPES:
            raise ValueError(f"method {self.method!r} is not one of {METHOD_TYPES}")
        if self.method in NO_TOKEN and self.truncated_token is not None:
            raise ValueError(f"PagerDuty returns no truncated_token for {self.method}")
        if self.method in TOKEN and not self.truncated_token:
            raise ValueError(f"{self.method} needs the token (its last 4 characters are shown)")

    def via(self, method: str, token: str | None = None) -> Actor:
        """The same actor by other means (a user's own API token instead of the browser)."""
        return replace(self, method=method, truncated_token=truncate(token))

    def reference(self) -> dict[str, Any]:
        """The `actors[]` entry. A user links to its REST resource; API keys and apps have
        none PagerDuty serves, so their links are null (the spec's examples carry none)."""
        if self.type == "user_reference":
            return ref("user", self.id, self.summary)
        return {
            "id": self.id,
            "type": self.type,
            "summary": self.summary,
            "self": None,
            "html_url": None,
        }

    def method_json(self) -> dict[str, Any]:
        return {"type": self.method, "truncated_token": self.truncated_token}

    def describe(self) -> str:
        """`Ada Lovelace (browser)`, `Terraform (api_token …+Yx3)`: for people reading."""
        token = f" …{self.truncated_token}" if self.truncated_token else ""
        return f"{self.summary} ({self.method}{token})"


def truncate(token: str | None) -> str | None:
    """What PagerDuty shows of a token: its last 4 characters."""
    return None if token is None else token[-4:]


def user_actor(user_id: str, name: str, method: str = "browser", token: str | None = None) -> Actor:
    """A user of the account (its id and name), in the browser unless told otherwise (a
    user's own API token: `method="api_token"`, `token=`)."""
    return Actor(user_id, "user_reference", name, method, truncate(token))


def api_key_actor(key_id: str, description: str, token: str) -> Actor:
    """An account API key (`PKEY…`), named by its description, used as an API token."""
    return Actor(key_id, "api_key_reference", description, "api_token", truncate(token))


def app_actor(app_id: str, name: str, token: str | None, method: str = "oauth") -> Actor:
    """An app or integration acting with its OAuth token (or by `method=` another means:
    `identity_provider`, which shows no token)."""
    return Actor(app_id, "app_reference", name, method, truncate(token))


# Who makes a change unless told otherwise: the account owner in the web UI.
ACCOUNT_OWNER = user_actor("PSIMOWN", "Account Owner")


def field_change(name: str, before: Any = None, after: Any = None) -> dict[str, Any]:
    """One `details.fields[]` entry; PagerDuty writes both values as strings (or null)."""
    out: dict[str, Any] = {"name": name, "value": None if after is None else str(after)}
    if before is not None:
        out["before_value"] = str(before)
    return out


def fields_changed(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields of `after` that differ from `before`, in `after`'s order."""
    return [
        field_change(name, before.get(name), value)
        for name, value in after.items()
        if before.get(name) != value
    ]


def members_changed(
    name: str, added: list[dict[str, Any]], removed: list[dict[str, Any]]
) -> dict[str, Any]:
    """One `details.references[]` entry: references `added` to / `removed` from `name`."""
    out: dict[str, Any] = {"name": name}
    if added:
        out["added"] = added
    if removed:
        out["removed"] = removed
    return out


@dataclass
class AuditTrail:
    """Every record the account wrote, oldest first; `page()` serves them newest first."""

    clock: Callable[[], float]
    records: list[dict[str, Any]] = field(default_factory=list)
    _times: list[float] = field(default_factory=list)
    _request_id: str | None = None
    actor: Actor = ACCOUNT_OWNER  # who the next record names (acting_as)
    _paused: bool = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Records are not written inside (a generated account's objects predate any
        audit window: Account.generate writes none of them)."""
        before, self._paused = self._paused, True
        try:
            yield
        finally:
            self._paused = before

    @contextmanager
    def acting_as(self, actor: Actor) -> Iterator[Actor]:
        """Records written inside name `actor` (and its method); nested, the inner wins."""
        before, self.actor = self.actor, actor
        try:
            yield actor
        finally:
            self.actor = before

    @contextmanager
    def request(self) -> Iterator[str]:
        """Records written inside share one `request_id` (one change, several records)."""
        if self._request_id is not None:
            yield self._request_id
            return
        self._request_id = uuid.uuid4().hex
        try:
            yield self._request_id
        finally:
            self._request_id = None

    def record(
        self,
        kind: str,
        obj_id: str,
        summary: str,
        action: str,
        *,
        fields: list[dict[str, Any]] | None = None,
        references: list[dict[str, Any]] | None = None,
        resource: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append the record of `action` (create / update / delete) on one root resource;
        `resource`: the part of it that changed (`details.resource`: a user's contact method
        or notification rule), else the root resource itself."""
        if self._paused:
            return {}
        now = self.clock()
        record_id = f"PAR{base36(len(self.records) + 1, 7)}"
        root = ref(kind, obj_id, summary)
        details: dict[str, Any] = {"resource": resource or root}
        if fields:
            details["fields"] = fields
        if references:
            details["references"] = references
        with self.request() as request_id:
            record = {
                "id": record_id,
                "self": f"https://sim.pagerduty.test/audit/records/{record_id}",
                "execution_time": iso(now, "milliseconds"),
                "execution_context": {"request_id": request_id, "remote_address": "192.0.2.1"},
                "actors": [self.actor.reference()],
                "method": self.actor.method_json(),
                "root_resource": root,
                "action": action,
                "details": details,
            }
        self.records.append(record)
        self._times.append(now)
        return record

    def clear(self) -> None:
        """Forget every record (a generated account's objects predate any window)."""
        self.records.clear()
        self._times.clear()

    def page(
        self,
        since: float,
        until: float,
        limit: int,
        cursor: str | None,
        where: RecordFilter | None = None,
    ) -> dict[str, Any]:
        """Records in [since, until] that `where` matches, newest first, `limit` after
        `cursor`; the cursor names the last record served, so records written between two
        pages never shift what the next page holds."""
        where = where or RecordFilter()
        after = decode_cursor(cursor) if cursor else (float("inf"), 0)
        keys = [
            (at, index)
            for index, (record, at) in enumerate(zip(self.records, self._times, strict=True))
            if since <= at <= until and (at, index) < after and where.matches(record)
        ]
        keys.sort(reverse=True)
        served = keys[:limit]
        return {
            "records": [self.records[index] for _, index in served],
            "limit": limit,
            "next_cursor": encode_cursor(served[-1]) if len(keys) > limit else None,
        }


@dataclass(frozen=True)
class RecordFilter:
    """`GET /audit/records`' filters (`root_resource_types[]`, `actions[]`, `actor_type`,
    `actor_id`, `method_type`, `method_truncated_token`); unset ones match every record.
    Built by `parse`, which refuses what PagerDuty refuses."""

    root_types: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    actor_type: str | None = None
    actor_id: str | None = None
    method_type: str | None = None
    truncated_token: str | None = None

    @classmethod
    def parse(
        cls,
        root_types: list[str],
        actions: list[str],
        actor_type: str | None,
        actor_id: str | None,
        method_type: str | None,
        truncated_token: str | None,
    ) -> RecordFilter:
        """ValueError naming the parameter when a value is not in the spec's enum, or
        when `actor_id` / `method_truncated_token` come without the type they qualify
        (the spec: "Must be qualified by providing the `actor_type` param")."""
        for name, values, allowed in (
            ("root_resource_types[]", root_types, tuple(ROOT_TYPES)),
            ("actions[]", actions, ACTIONS),
            ("actor_type", [actor_type] if actor_type is not None else [], ACTOR_TYPES),
            ("method_type", [method_type] if method_type is not None else [], METHOD_TYPES),
        ):
            unknown = [v for v in values if v not in allowed]
            if unknown:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        if actor_id is not None and actor_type is None:
            raise ValueError("actor_id must be qualified by actor_type")
        if truncated_token is not None and method_type is None:
            raise ValueError("method_truncated_token must be qualified by method_type")
        return cls(
            tuple(root_types), tuple(actions), actor_type, actor_id, method_type, truncated_token
        )

    def matches(self, record: dict[str, Any]) -> bool:
        kinds = {f"{ROOT_TYPES[t]}_reference" for t in self.root_types}
        if kinds and record["root_resource"]["type"] not in kinds:
            return False
        if self.actions and record["action"] not in self.actions:
            return False
        actors = record.get("actors") or []
        if self.actor_type is not None and not any(
            a["type"] == self.actor_type and self.actor_id in (None, a["id"]) for a in actors
        ):
            return False
        method = record["method"]
        if self.method_type is not None and method["type"] != self.method_type:
            return False
        return self.truncated_token is None or method.get("truncated_token") == (
            self.truncated_token
        )


def encode_cursor(key: tuple[float, int]) -> str:
    return base64.urlsafe_b64encode(f"audit:{key[0]!r}:{key[1]}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, int]:
    """The (time, position) a `next_cursor` names; ValueError when it is not one of ours."""
    try:
        prefix, at, index = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
    except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error is a ValueError
        raise ValueError(cursor) from exc
    if prefix != "audit":
        raise ValueError(cursor)
    return float(at), int(index)
