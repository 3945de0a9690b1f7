"""A PagerDuty REST API v2 simulator: the test double for pdgraph and the engine of the demo.

Deterministic accounts of any size from a seed; classic pagination with the 10,000 offset
cap (400 past it); `team_ids[]`, `query`, `escalation_policy_ids[]` filters; `total=true`;
`ratelimit-*` headers and 429s; injectable faults; a request log for counting.

    python -m sim.pagerduty --users 1000 --port 8099 --api-key demo
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import threading
import time
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from werkzeug.wrappers import Request, Response

from sim._http import SimServer, json_response, serve_until_interrupted

OFFSET_CAP = 10_000
HOST = "https://sim.pagerduty.test"

FIRST_NAMES = [
    "Ada",
    "Zoë",
    "José",
    "Łukasz",
    "Søren",
    "Aoife",
    "Ольга",
    "Θεόδωρος",
    "美咲",
    "Nguyễn",
    "Chidi",
    "Priya",
    "Mateo",
    "Yusuf",
    "Ingrid",
    "Kwame",
    "Siobhán",
    "Dvořák",
    "Émile",
    "Noor",
]
LAST_NAMES = [
    "Lovelace",
    "Müller",
    "García",
    "Kowalski",
    "Ødegaard",
    "Ní Bhriain",
    "Иванова",
    "Παπαδόπουλος",
    "佐藤",
    "Trần",
    "Okafor",
    "Raman",
    "Fernández",
    "Yılmaz",
    "Håkansson",
    "Mensah",
    "O'Neill",
    "Novák",
    "Çelik",
    "Haddad",
]
TEAM_WORDS = [
    "Platform",
    "Payments",
    "Search",
    "Identity",
    "Data",
    "Edge",
    "Mobile",
    "Infra",
    "Billing",
    "Growth",
    "Security",
    "Núcleo",
    "Façade",
    "Ops",
]
SERVICE_WORDS = [
    "api",
    "worker",
    "db",
    "cache",
    "gateway",
    "frontend",
    "queue",
    "auth",
    "ledger",
    "index",
    "cron",
    "storage",
    "mailer",
    "résumé",
    "naïve",
]
ROLES = (
    ["user"] * 10
    + ["limited_user"] * 4
    + ["admin"] * 2
    + ["observer", "owner", "read_only_user", "restricted_access", "read_only_limited_user"]
)
STATUSES = ["active", "active", "active", "warning", "critical", "maintenance", "disabled"]
TIME_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum()) or "x"


def _base36(n: int, width: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(width, "0")


@dataclass
class Schedule:
    id: str
    name: str
    rotation: list[str]  # user ids, one shift each, repeating
    shift_seconds: int
    epoch: float  # when the first shift started

    def on_call_at(self, now: float) -> tuple[str, float, float]:
        shifts = int((now - self.epoch) // self.shift_seconds)
        start = self.epoch + shifts * self.shift_seconds
        return self.rotation[shifts % len(self.rotation)], start, start + self.shift_seconds


@dataclass
class EscalationPolicy:
    id: str
    name: str
    # one list of targets per level: ("user", id) = permanent, ("schedule", id) = rotating
    levels: list[list[tuple[str, str]]]


@dataclass
class Account:
    """The state of a simulated PagerDuty account. Methods change it like the web UI would."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, EscalationPolicy] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    version: int = 0  # bumped by every change; keys the listing caches
    _next_id: int = 0
    _cache: dict[Any, Any] = field(default_factory=dict)
    # called with (event_type, resource_type, data) for every change PagerDuty announces
    listeners: list[Callable[[str, str, dict[str, Any]], None]] = field(default_factory=list)
    _incidents: int = 0

    def _announce(self, event_type: str, resource_type: str, data: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event_type, resource_type, data)

    def service_event_data(self, service: dict[str, Any]) -> dict[str, Any]:
        """A service webhook's `data`: no name, no escalation policy (re-read the service)."""
        return {
            **self._ref("service", service["id"], service["name"], reference=False),
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
            self._cache[key] = sorted(getattr(self, kind).values(), key=_by_name)
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
        return f"P{prefix}{_base36(self._next_id, 5)}"

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
    ) -> Account:
        """A deterministic account: teams and services default to 1:10 and 1:2 of users."""
        rng = random.Random(seed)
        n_teams = users // 10 if teams is None else teams
        n_services = users // 2 if services is None else services
        account = cls(clock=clock)
        epoch = 1_700_000_000.0  # fixed: the same seed gives the same on-call rotation
        for i in range(n_teams):
            name = f"{rng.choice(TEAM_WORDS)} {rng.choice(TEAM_WORDS)} {i}"
            account.add_team(name, description=rng.choice([None, f"The {name} team"]))
        team_ids = list(account.teams)
        for i in range(users):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            n_member = rng.choices([0, 1, 2, 3], weights=[25, 45, 20, 10])[0] if team_ids else 0
            account.add_user(
                f"{first} {last}",
                f"{_slug(first)}.{_slug(last)}.{i}@example.com",
                role=rng.choice(ROLES),
                team_ids=rng.sample(team_ids, min(n_member, len(team_ids))),
                job_title=rng.choice([None, "SRE", "Engineer", "Ingénieur", "Manager"]),
                time_zone=rng.choice(TIME_ZONES),
                billed=rng.random() < 0.9,
                invitation_sent=rng.random() < 0.1,
                description=rng.choice([None, "On call for the ✨ things"]),
            )
        user_ids = list(account.users)
        n_schedules = max(1, users // 20) if users else 0
        for i in range(n_schedules):
            rotation = rng.sample(user_ids, min(len(user_ids), rng.randint(2, 6)))
            sid = account.new_id("S")
            account.schedules[sid] = Schedule(
                sid, f"Rotation {i}", rotation, shift_seconds, epoch - rng.randint(0, 3600)
            )
        schedule_ids = list(account.schedules)
        n_policies = max(1, n_services // 3) if n_services else 0
        for i in range(n_policies):
            levels = []
            for _ in range(rng.randint(1, 3)):
                targets: list[tuple[str, str]] = []
                for _ in range(rng.randint(1, 2)):
                    if schedule_ids and rng.random() < 0.6:
                        targets.append(("schedule", rng.choice(schedule_ids)))
                    elif user_ids:
                        targets.append(("user", rng.choice(user_ids)))
                levels.append(targets)
            pid = account.new_id("E")
            account.policies[pid] = EscalationPolicy(pid, f"Policy {i}", levels)
        policy_ids = list(account.policies)
        for i in range(n_services):
            name = f"{rng.choice(SERVICE_WORDS)}-{rng.choice(SERVICE_WORDS)}-{i}"
            created = epoch - rng.randint(0, 3 * 365 * 86400)
            account.add_service(
                name,
                escalation_policy_id=rng.choice(policy_ids),
                team_ids=rng.sample(team_ids, min(rng.randint(0, 2), len(team_ids))),
                status=rng.choice(STATUSES),
                description=rng.choice([None, f"Runs {name} 🚀"]),
                created_at=_iso(created),
                last_incident_timestamp=rng.choice([None, _iso(created + rng.randint(0, 10**7))]),
                alert_creation=rng.choice(["create_incidents", "create_alerts_and_incidents"]),
                auto_resolve_timeout=rng.choice([None, 14400]),
                acknowledgement_timeout=rng.choice([None, 1800]),
            )
        return account

    # -- changes ------------------------------------------------------------------

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
        return uid

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
            "created_at": attrs.get("created_at") or _iso(self.clock()),
            "last_incident_timestamp": attrs.get("last_incident_timestamp"),
            "escalation_policy_id": escalation_policy_id,
            "team_ids": list(team_ids),
            "alert_creation": attrs.get("alert_creation", "create_alerts_and_incidents"),
            "auto_resolve_timeout": attrs.get("auto_resolve_timeout"),
            "acknowledgement_timeout": attrs.get("acknowledgement_timeout"),
        }
        self.changed()
        self._announce("service.created", "service", self.service_event_data(self.services[sid]))
        return sid

    def update_service(self, service_id: str, **changes: Any) -> None:
        """Change fields (name, status, team_ids, escalation_policy_id, ...): service.updated."""
        self.services[service_id].update(changes)
        self.changed()
        self._announce(
            "service.updated", "service", self.service_event_data(self.services[service_id])
        )

    def delete_service(self, service_id: str) -> None:
        data = self.service_event_data(self.services.pop(service_id))
        self.changed()
        self._announce("service.deleted", "service", data)

    def trigger_incident(self, service_id: str, event_type: str = "incident.triggered") -> str:
        """An incident event on a service (escalations are when on-call matters)."""
        service = self.services[service_id]
        self._incidents += 1
        number = self._incidents
        incident_id = f"PI{_base36(number, 5)}"
        pid = service["escalation_policy_id"]
        data = {
            "id": incident_id,
            "type": "incident",
            "number": number,
            "status": "triggered",
            "incident_key": f"key-{number}",
            "created_at": _iso(self.clock()),
            "title": f"Incident {number} on {service['name']}",
            "service": self._ref("service", service_id, service["name"]),
            "assignees": [],
            "escalation_policy": self._ref("escalation_policy", pid, self.policies[pid].name),
            "teams": [],
            "priority": None,
            "urgency": "high",
            **self._links("incident", incident_id),
        }
        self._announce(event_type, "incident", data)
        return incident_id

    def rotate_oncall(self, policy_id: str, user_id: str) -> None:
        """Put `user_id` alone on level 1 of the policy. PagerDuty sends no event for this."""
        policy = self.policies[policy_id]
        policy.levels[0] = [("user", user_id)]
        self.changed()

    def delete_user(self, user_id: str) -> None:
        del self.users[user_id]
        for schedule in self.schedules.values():
            schedule.rotation = [u for u in schedule.rotation if u != user_id] or schedule.rotation
        for policy in self.policies.values():
            policy.levels = [[t for t in lvl if t != ("user", user_id)] for lvl in policy.levels]
        self.changed()

    def delete_team(self, team_id: str) -> None:
        del self.teams[team_id]
        for obj in (*self.users.values(), *self.services.values()):
            obj["team_ids"] = [t for t in obj["team_ids"] if t != team_id]
        self.changed()

    # -- the API's view -------------------------------------------------------------

    def _ref(
        self, kind: str, obj_id: str, summary: str, *, reference: bool = True
    ) -> dict[str, Any]:
        """What every PagerDuty object starts with: id, type, summary, self, html_url."""
        return {
            "id": obj_id,
            "type": f"{kind}_reference" if reference else kind,
            "summary": summary,
            **self._links(kind, obj_id),
        }

    def _team_refs(self, team_ids: list[str]) -> list[dict[str, Any]]:
        return [self._ref("team", t, self.teams[t]["name"]) for t in team_ids if t in self.teams]

    def _links(self, kind: str, obj_id: str) -> dict[str, str]:
        plural = {"escalation_policy": "escalation_policies"}.get(kind, kind + "s")
        return {
            "self": f"{HOST}/{plural}/{obj_id}",
            "html_url": f"{HOST.replace('sim.', 'acme.')}/{plural}/{obj_id}",
        }

    def team_json(self, team: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._ref("team", team["id"], team["name"], reference=False),
            "name": team["name"],
            "description": team["description"],
            "default_role": team["default_role"],
        }

    def user_json(self, user: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in user.items() if k != "team_ids"}
        out["summary"] = user["name"]
        out["avatar_url"] = f"https://avatars.example.test/{user['id']}.png"
        out["teams"] = self._team_refs(user["team_ids"])
        out.update(self._links("user", user["id"]))
        return out

    def service_json(self, service: dict[str, Any], include_teams: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in service.items() if k not in ("team_ids", "escalation_policy_id")}
        out["summary"] = service["name"]
        pid = service["escalation_policy_id"]
        policy = self.policies.get(pid)
        out["escalation_policy"] = self._ref(
            "escalation_policy", pid, policy.name if policy else pid
        )
        teams = [self.teams[t] for t in service["team_ids"] if t in self.teams]
        out["teams"] = (
            [{**self.team_json(t)} for t in teams]
            if include_teams
            else [self._ref("team", t["id"], t["name"]) for t in teams]
        )
        out.update(self._links("service", service["id"]))
        return out

    def oncalls_now(self) -> list[dict[str, Any]]:
        now = self.clock()
        key = ("oncalls", int(now))  # recomputed at most once a second
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] != "oncalls"}
            self._cache[key] = self._compute_oncalls(now)
        result: list[dict[str, Any]] = self._cache[key]
        return result

    def _compute_oncalls(self, now: float) -> list[dict[str, Any]]:
        entries = []
        for policy in self.policies.values():
            policy_ref = self._ref("escalation_policy", policy.id, policy.name)
            for level, targets in enumerate(policy.levels, start=1):
                for kind, target_id in targets:
                    if kind == "user":
                        if target_id not in self.users:
                            continue
                        user_id, schedule, start, end = target_id, None, None, None
                    else:
                        sched = self.schedules[target_id]
                        user_id, s, e = sched.on_call_at(now)
                        if user_id not in self.users:
                            continue
                        schedule = self._ref("schedule", sched.id, sched.name)
                        start, end = _iso(s), _iso(e)
                    entries.append(
                        {
                            "escalation_policy": policy_ref,
                            "escalation_level": level,
                            "schedule": schedule,
                            "start": start,
                            "end": end,
                            "user": self._ref("user", user_id, self.users[user_id]["name"]),
                        }
                    )
        return entries


class PagerDutySim(SimServer):
    """The HTTP face of an Account; start() serves it on a free loopback port."""

    def __init__(
        self,
        account: Account,
        api_key: str = "sim-api-key",
        *,
        rate_limit: int | None = None,  # requests per minute; None = unlimited
        rate_limit_headers: bool = True,
    ) -> None:
        super().__init__()
        self.account = account
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.rate_limit_headers = rate_limit_headers
        self.filters_work = True  # False: filtered listings answer empty (tests the guard)
        self.subscriptions: list[dict[str, Any]] = []  # POST /webhook_subscriptions
        self._window: deque[float] = deque()

    # -- control ------------------------------------------------------------------

    def send_webhooks_to(self, url: str, secrets: list[str]) -> WebhookSender:
        """Announce every account change as a signed v3 webhook POSTed to `url`."""
        sender = WebhookSender(url, secrets)
        self.account.listeners.append(sender)
        return sender

    # -- serving --------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str, code: int, errors: list[str] | None = None) -> Any:
        return {"error": {"message": message, "code": code, "errors": errors or []}}

    def _rate_headers(self, now: float) -> dict[str, str]:
        if not self.rate_limit or not self.rate_limit_headers:
            return {}
        remaining = max(0, self.rate_limit - len(self._window))
        reset = int(self._window[0] + 60 - now) + 1 if self._window else 60
        return {
            "ratelimit-limit": str(self.rate_limit),
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(max(1, reset)),
        }

    def fault_body(self, status: int) -> Any:
        return self._error(status, "Simulated fault", 5000 + status)

    def handle(self, request: Request) -> Response:
        faulted = self.log_and_fault(request)
        if faulted is not None:
            return faulted

        if request.headers.get("Authorization") != f"Token token={self.api_key}":
            return json_response(self._error(401, "Unauthorized", 2006), 401)

        now = time.monotonic()
        with self.lock:
            if self.rate_limit:
                while self._window and self._window[0] <= now - 60:
                    self._window.popleft()
                if len(self._window) >= self.rate_limit:
                    return json_response(
                        self._error(429, "Rate Limit Exceeded", 2020), 429, self._rate_headers(now)
                    )
                self._window.append(now)
            headers = self._rate_headers(now)
            try:
                response = self.route(request)
            except KeyError:
                response = json_response(self._error(404, "Not Found", 2100), 404)
        response.headers.update(headers)
        return response

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        args = request.args
        a = self.account
        if path == "/webhook_subscriptions" and request.method == "POST":
            return self._create_subscription(request)
        if request.method != "GET":
            return json_response(self._error(405, "Method Not Allowed", 2000), 405)
        if path == "/webhook_subscriptions":
            public = [{k: v for k, v in sub.items() if k != "secret"} for sub in self.subscriptions]
            return self._page(request, "webhook_subscriptions", public, lambda o: o)
        if path == "/abilities":
            return json_response({"abilities": ["teams", "read_only_users", "urgencies"]})
        if path.startswith("/services/"):
            service = a.services[path.split("/")[2]]
            return json_response(
                {"service": a.service_json(service, "teams" in args.getlist("include[]"))}
            )
        if path == "/users":
            items = _filter_teams(a.search("users", args.get("query")), args.getlist("team_ids[]"))
            return self._page(request, "users", items, a.user_json)
        if path == "/teams":
            items = a.search("teams", args.get("query"))
            return self._page(request, "teams", items, a.team_json)
        if path == "/services":
            items = a.search("services", args.get("query"))
            items = _filter_teams(items, args.getlist("team_ids[]"))
            include_teams = "teams" in args.getlist("include[]")
            return self._page(
                request, "services", items, lambda s: a.service_json(s, include_teams)
            )
        if path == "/oncalls":
            oncalls = a.oncalls_now()
            for param, ref in (
                ("escalation_policy_ids[]", "escalation_policy"),
                ("user_ids[]", "user"),
                ("schedule_ids[]", "schedule"),
            ):
                wanted = set(args.getlist(param))
                if wanted:
                    oncalls = [o for o in oncalls if (o[ref] or {}).get("id") in wanted]
            return self._page(request, "oncalls", oncalls, lambda o: o)
        return json_response(self._error(404, "Not Found", 2100), 404)

    def _create_subscription(self, request: Request) -> Response:
        body = (request.get_json(silent=True) or {}).get("webhook_subscription") or {}
        method = body.get("delivery_method") or {}
        url = str(method.get("url") or "")
        if not url.startswith("https://") or not body.get("events"):
            return json_response(
                self._error(
                    400,
                    "Invalid Input Provided",
                    2001,
                    ["delivery_method.url must be https; events required"],
                ),
                400,
            )
        secret = uuid.uuid4().hex + uuid.uuid4().hex
        sub = {
            "id": self.account.new_id("W"),
            "type": "webhook_subscription",
            "active": True,
            "delivery_method": {
                "type": "http_delivery_method",
                "url": url,
                "temporarily_disabled": False,
                "custom_headers": [],
            },
            "description": body.get("description"),
            "events": list(body["events"]),
            "filter": body.get("filter"),
        }
        self.subscriptions.append({**sub, "secret": secret})
        created = {**sub, "delivery_method": {**sub["delivery_method"], "secret": secret}}
        return json_response({"webhook_subscription": created}, 201)

    def _page(
        self,
        request: Request,
        key: str,
        items: list[dict[str, Any]],
        render: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Response:
        try:
            limit = int(request.args.get("limit", 25))
            offset = int(request.args.get("offset", 0))
        except ValueError:
            return json_response(self._error(400, "Invalid Input Provided", 2001), 400)
        limit = max(1, min(limit, 100))
        filters = ("team_ids[]", "query", "escalation_policy_ids[]", "user_ids[]")
        if not self.filters_work and any(f in request.args for f in filters):
            items = []
        if offset < 0 or offset + limit > OFFSET_CAP:
            return json_response(
                self._error(
                    400,
                    "Invalid Input Provided",
                    2001,
                    [f"Offset must be less than {OFFSET_CAP + 1}."],
                ),
                400,
            )
        page = items[offset : offset + limit]
        total = len(items) if request.args.get("total") == "true" else None
        return json_response(
            {
                key: [render(o) for o in page],
                "limit": limit,
                "offset": offset,
                "more": offset + limit < len(items),
                "total": total,
            }
        )


@dataclass
class Delivery:
    """One webhook delivery: re-sending it re-sends the same body and X-Webhook-Id."""

    webhook_id: str
    event_type: str
    body: bytes
    statuses: list[int] = field(default_factory=list)  # 0: no answer (connection error)

    @property
    def delivered(self) -> bool:
        return any(200 <= status < 300 for status in self.statuses)


class WebhookSender:
    """Delivers an Account's events as signed PagerDuty v3 webhooks (one event per POST).

    `hold = True` keeps deliveries back until `release()` (in any order, for out-of-order
    tests); `redeliver()` repeats one (duplicates); `retry_failed()` re-sends those that got
    no 2xx, as PagerDuty does for 5xx, 429 and timeouts.
    """

    def __init__(
        self, url: str, secrets: list[str], subscription_id: str = "PSUBSIM1", timeout: float = 10
    ) -> None:
        self.url = url
        self.secrets = secrets
        self.subscription_id = subscription_id
        self.timeout = timeout
        self.hold = False
        self.deliveries: list[Delivery] = []
        self.held: list[Delivery] = []
        self._session = requests.Session()
        self._lock = threading.Lock()

    def __call__(self, event_type: str, resource_type: str, data: dict[str, Any]) -> None:
        event = {
            "id": f"01{uuid.uuid4().hex[:24].upper()}",
            "event_type": event_type,
            "resource_type": resource_type,
            "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "agent": None,
            "client": None,
            "data": data,
        }
        body = json.dumps({"event": event}, ensure_ascii=False).encode("utf-8")
        delivery = Delivery(str(uuid.uuid4()), event_type, body)
        with self._lock:
            self.deliveries.append(delivery)
            if self.hold:
                self.held.append(delivery)
                return
        self.send(delivery)

    def ping(self) -> Delivery:
        self("pagey.ping", "pagey", {"message": "Hello from your friend Pagey!", "type": "ping"})
        return self.deliveries[-1]

    def signature(self, body: bytes) -> str:
        return ", ".join(
            "v1=" + hmac.new(s.encode("utf-8"), body, hashlib.sha256).hexdigest()
            for s in self.secrets
        )

    def send(self, delivery: Delivery) -> int:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "PagerDuty-Webhook/V3.0",
            "X-PagerDuty-Signature": self.signature(delivery.body),
            "X-Webhook-Id": delivery.webhook_id,
            "X-Webhook-Subscription": self.subscription_id,
        }
        try:
            status = self._session.post(
                self.url, data=delivery.body, headers=headers, timeout=self.timeout
            ).status_code
        except requests.RequestException:
            status = 0
        delivery.statuses.append(status)
        return status

    def redeliver(self, delivery: Delivery) -> int:
        return self.send(delivery)

    def release(self, order: Callable[[list[Delivery]], list[Delivery]] = list) -> None:
        with self._lock:
            held, self.held = self.held, []
        for delivery in order(held):
            self.send(delivery)

    def retry_failed(self) -> int:
        """Re-send every delivery not yet accepted; how many are still not accepted."""
        pending = [d for d in self.deliveries if not d.delivered and d not in self.held]
        for delivery in pending:
            self.send(delivery)
        return sum(1 for d in pending if not d.delivered)


def _by_name(obj: dict[str, Any]) -> tuple[str, str]:
    return (str(obj["name"]).lower(), obj["id"])


def _filter_teams(items: list[dict[str, Any]], team_ids: list[str]) -> list[dict[str, Any]]:
    if not team_ids:
        return items
    wanted = set(team_ids)
    return [o for o in items if wanted.intersection(o["team_ids"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--api-key", default="sim-api-key")
    parser.add_argument("--rate-limit", type=int, default=None)
    args = parser.parse_args()
    sim = PagerDutySim(
        Account.generate(args.seed, args.users), args.api_key, rate_limit=args.rate_limit
    )
    serve_until_interrupted(
        sim, args.port, f"PagerDuty simulator with {args.users} users at {{url}}"
    )


if __name__ == "__main__":
    main()
