"""The HTTP face of a simulated account: the REST API v2 routes pdgraph reads.

Classic pagination with the 10,000 offset cap (400 past it); `team_ids[]`, `query`,
`escalation_policy_ids[]` filters; `total=true`; `ratelimit-*` headers and 429s;
injectable faults and a request log (sim._http). `include[]` expands a service's
`escalation_policy`, `teams` and `integrations` (the only place an integration's secret
`integration_key` is served) and a user's `contact_methods` and `notification_rules`.
The catalog's routes (business services, service dependencies, vendors, tags,
maintenance windows) are sim/pagerduty/catalog_routes.py.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from sim._http import SimServer, json_response
from sim.pagerduty import audit, catalog_routes, views
from sim.pagerduty.account import Account
from sim.pagerduty.catalog_views import integration_json
from sim.pagerduty.objects import parse_time
from sim.pagerduty.webhooks import WebhookSender

OFFSET_CAP = 10_000
LISTINGS = ("users", "teams", "services", "escalation_policies", "schedules")
Render = Callable[[dict[str, Any]], dict[str, Any]]


class PagerDutySim(SimServer):
    """The HTTP face of an Account; start() serves it on a free loopback port."""

    def __init__(
        self,
        account: Account,
        api_key: str = "sim-api-key",
        *,
        rate_limit: int | None = None,  # requests per minute; None = unlimited
        rate_limit_headers: bool = True,
        audit_records: str = "ok",  # "402": plan without Audit Trail; "403": key not admin
    ) -> None:
        super().__init__()
        self.account = account
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.rate_limit_headers = rate_limit_headers
        self.audit_records = audit_records
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
        if path == "/webhook_subscriptions" and request.method == "POST":
            return self._create_subscription(request)
        if request.method != "GET":
            return json_response(self._error(405, "Method Not Allowed", 2000), 405)
        if path == "/webhook_subscriptions":
            public = [{k: v for k, v in sub.items() if k != "secret"} for sub in self.subscriptions]
            return self._page(request, "webhook_subscriptions", public, lambda o: o)
        if path == "/abilities":
            return json_response({"abilities": ["teams", "read_only_users", "urgencies"]})
        if path == "/oncalls":
            return self._oncalls(request)
        if path == "/audit/records":
            return self._audit_records(request)
        parts = path.strip("/").split("/")
        answer = catalog_routes.route(self, request, parts)
        if answer is not None:
            return answer
        if len(parts) == 1 and parts[0] in LISTINGS:
            items, render = self._listing(request, parts[0])
            return self._page(request, parts[0], items, render)
        if len(parts) == 2 and parts[0] in LISTINGS:
            return self._one(request, parts[0], parts[1])
        if len(parts) == 3 and parts[0] == "teams" and parts[2] == "members":
            return self._page(request, "members", views.members(self.account, parts[1]), _same)
        return json_response(self._error(404, "Not Found", 2100), 404)

    def _listing(self, request: Request, kind: str) -> tuple[list[dict[str, Any]], Render]:
        a, args = self.account, request.args
        include = args.getlist("include[]")
        if kind == "escalation_policies":
            policies = sorted(a.policies.values(), key=lambda p: (p.name.lower(), p.id))
            return [{"policy": p} for p in policies], lambda o: views.policy_json(a, o["policy"])
        if kind == "schedules":
            schedules = sorted(a.schedules.values(), key=lambda s: (s.name.lower(), s.id))
            return [{"schedule": s} for s in schedules], lambda o: views.schedule_json(
                a, o["schedule"]
            )
        items = a.search(kind, args.get("query"))
        if kind == "teams":
            return items, a.team_json
        items = _filter_teams(items, args.getlist("team_ids[]"))
        if kind == "users":
            return items, lambda u: a.user_json(u, include)
        return items, lambda s: self._service_json(s, include)

    def _one(self, request: Request, kind: str, obj_id: str) -> Response:
        """`GET /{kind}/{id}`: `{"<singular>": {...}}`; an unknown id is KeyError (404)."""
        a = self.account
        include = request.args.getlist("include[]")
        if kind == "escalation_policies":
            body = {"escalation_policy": views.policy_json(a, a.policies[obj_id])}
        elif kind == "schedules":
            window = self._window_arg(request)
            if isinstance(window, Response):
                return window
            body = {"schedule": views.schedule_json(a, a.schedules[obj_id], window)}
            if window is not None:
                a.coverage_windows[obj_id] = window
        elif kind == "services":
            body = {"service": self._service_json(a.services[obj_id], include)}
        elif kind == "users":
            body = {"user": a.user_json(a.users[obj_id], include)}
        else:
            body = {"team": a.team_json(a.teams[obj_id])}
        return json_response(body)

    def _service_json(self, service: dict[str, Any], include: list[str]) -> dict[str, Any]:
        out = self.account.service_json(service, "teams" in include)
        policy = self.account.policies.get(service["escalation_policy_id"])
        if "escalation_policies" in include and policy is not None:
            out["escalation_policy"] = views.policy_json(self.account, policy)
        if "integrations" in include:  # the only place an integration_key is served
            integrations = self.account.integrations_of(service["id"])
            out["integrations"] = [integration_json(self.account, i) for i in integrations]
        return out

    def _window_arg(self, request: Request) -> tuple[float, float] | Response | None:
        """`since` and `until` (both, or neither: None); PagerDuty's 400 when they are wrong."""
        since, until = request.args.get("since"), request.args.get("until")
        if since is None and until is None:
            return None
        now = self.account.clock()
        try:
            window = (
                parse_time(since) if since else now,
                parse_time(until) if until else now,
            )
        except ValueError:
            return self._invalid("`since` and `until` must be ISO 8601 date-times")
        if window[1] < window[0]:
            return self._invalid("`until` must be after `since`")
        return window

    def _oncalls(self, request: Request) -> Response:
        a, args = self.account, request.args
        window = self._window_arg(request)
        if isinstance(window, Response):
            return window
        oncalls = a.oncalls_now() if window is None else a.oncalls_between(*window)
        for param, ref in (
            ("escalation_policy_ids[]", "escalation_policy"),
            ("user_ids[]", "user"),
            ("schedule_ids[]", "schedule"),
        ):
            wanted = set(args.getlist(param))
            if wanted:
                oncalls = [o for o in oncalls if (o[ref] or {}).get("id") in wanted]
        include = args.getlist("include[]")
        return self._page(request, "oncalls", oncalls, lambda o: views.expand_oncall(a, o, include))

    def _audit_records(self, request: Request) -> Response:
        """`GET /audit/records`; plan-gated (402) and for admin / account keys only (403)."""
        if self.audit_records in AUDIT_REFUSALS:
            status, message, code = AUDIT_REFUSALS[self.audit_records]
            return json_response(self._error(status, message, code, [message]), status)
        args, now = request.args, self.account.clock()
        try:
            where = audit.RecordFilter.parse(
                args.getlist("root_resource_types[]"),
                args.getlist("actions[]"),
                args.get("actor_type"),
                args.get("actor_id"),
                args.get("method_type"),
                args.get("method_truncated_token"),
            )
        except ValueError as exc:
            return self._invalid(str(exc))
        try:
            since = parse_time(args["since"]) if "since" in args else now - audit.DAY
            until = parse_time(args["until"]) if "until" in args else now
            limit = max(1, min(int(args.get("limit", audit.DEFAULT_LIMIT)), audit.MAX_LIMIT))
            if until < since or until - since > audit.MAX_WINDOW:
                raise ValueError(since, until)
            page = self.account.audit.page(since, until, limit, args.get("cursor"), where)
        except ValueError:
            return self._invalid("`since`, `until`, `limit` or `cursor` is invalid")
        return json_response(page)

    def _invalid(self, *errors: str) -> Response:
        return json_response(self._error(400, "Invalid Input Provided", 2001, list(errors)), 400)

    def _create_subscription(self, request: Request) -> Response:
        body = (request.get_json(silent=True) or {}).get("webhook_subscription") or {}
        method = body.get("delivery_method") or {}
        url = str(method.get("url") or "")
        errors = _subscription_errors(body, url)
        if errors:
            return self._invalid(*errors)
        secret = uuid.uuid4().hex + uuid.uuid4().hex
        delivery: dict[str, Any] = {
            "type": "http_delivery_method",
            "url": url,
            "temporarily_disabled": False,
            "custom_headers": [],
        }
        sub: dict[str, Any] = {
            "id": self.account.new_id("W"),
            "type": "webhook_subscription",
            "active": True,
            "delivery_method": delivery,
            "description": body.get("description"),
            "events": list(body["events"]),
            "filter": body.get("filter"),
        }
        self.subscriptions.append({**sub, "secret": secret})
        created = {**sub, "delivery_method": {**delivery, "secret": secret}}
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


# `audit_records=` mode -> PagerDuty's answer (its REST API error codes)
AUDIT_REFUSALS = {
    "402": (402, "Payment Required: account does not have the Audit Trail ability", 2014),
    "403": (403, "Access Denied", 2010),
}
FILTER_TYPES = ("account_reference", "service_reference", "team_reference")


def _subscription_errors(body: dict[str, Any], url: str) -> list[str]:
    """What PagerDuty's spec requires of a new subscription: type, https URL, events, filter."""
    errors = []
    if body.get("type") != "webhook_subscription":
        errors.append("type must be webhook_subscription")
    if not url.startswith("https://"):
        errors.append("delivery_method.url must be https")
    if not body.get("events"):
        errors.append("events required")
    subscription_filter = body.get("filter")
    if (
        not isinstance(subscription_filter, dict)
        or subscription_filter.get("type") not in FILTER_TYPES
    ):
        errors.append(f"filter.type must be one of {', '.join(FILTER_TYPES)}")
    return errors


def _same(obj: dict[str, Any]) -> dict[str, Any]:
    return obj


def _filter_teams(items: list[dict[str, Any]], team_ids: list[str]) -> list[dict[str, Any]]:
    if not team_ids:
        return items
    wanted = set(team_ids)
    return [o for o in items if wanted.intersection(o["team_ids"])]
