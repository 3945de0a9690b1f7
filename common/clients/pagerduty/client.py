"""PagerDuty REST API v2 client (requests).

Better than the official client on the points pdgraph depends on (see
shared/reference/pagerduty.md): `ratelimit-reset` honoured and shared between processes,
5xx/408/connection errors retried with capped exponential backoff and jitter, 401/403
failing at once, a timeout on every request, and listings past the 10,000 offset cap
reached through filters instead of silently truncated (common.clients.pagerduty.listings).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis
import requests

from common import metrics
from common.clients.http import INTERACTIVE_RETRY, RetryingClient, RetryPolicy, json_body
from common.clients.pagerduty.errors import (
    PagerDutyAuthError,
    PagerDutyError,
    PagerDutyNotFoundError,
    PagerDutyUnreachable,
)
from common.clients.pagerduty.listings import (
    Listing,
    ListingReader,
    PagerDutyObject,
    Params,
    ProgressCallback,
    name_search_text,
    object_id,
    oncall_identity,
    user_search_text,
)
from common.clients.ratelimit import LocalRequestBudget, RedisRequestBudget, RequestBudget
from common.config import Settings

API_URL_VARIABLE = "PAGERDUTY_API_URL"


def _error_message(response: requests.Response) -> str:
    try:
        error = response.json().get("error") or {}
        message = str(error.get("message") or "")
        details = error.get("errors") or []
        if details:
            message += ": " + "; ".join(str(d) for d in details)
        return message or response.reason
    except ValueError:
        return response.reason or ""


AUDIT_PAGE_SIZE = 100
# PagerDuty's answers when the audit trail cannot be read (developer docs, "Audit Records").
AUDIT_REFUSALS = {
    402: "the PagerDuty plan has no Audit Trail",
    403: "the PagerDuty key cannot read audit records (it needs an admin or owner user's, "
    "or an account-level key)",
}


# A user's contact methods and notification rules (whether PagerDuty can reach them), a
# service's teams and integrations, read with the object.
USER_INCLUDES: Params = [("include[]", "contact_methods"), ("include[]", "notification_rules")]
SERVICE_INCLUDES: Params = [("include[]", "teams"), ("include[]", "integrations")]


def without_integration_keys(service: PagerDutyObject) -> PagerDutyObject:
    """The service with its integrations' `integration_key` dropped as it is read: the key
    lets anyone who has it open incidents, and pdgraph never keeps it anywhere."""
    integrations = service.get("integrations")
    if integrations:
        service["integrations"] = [
            {k: v for k, v in i.items() if k != "integration_key"} for i in integrations
        ]
    return service


class AuditTrailUnavailable(PagerDutyError):
    """`GET /audit/records` refused: 402 (plan) or 403 (key's role); `status` says which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def member_identity(member: PagerDutyObject) -> Any:
    return (member.get("user") or {}).get("id")


def _oncalls_listing() -> Listing:
    return Listing("/oncalls", "oncalls", [("time_zone", "UTC")], oncall_identity)


class PagerDutyClient(RetryingClient):
    service = "pagerduty"
    error = PagerDutyError

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.pagerduty.com",
        *,
        budget: RequestBudget | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        page_workers: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        progress: ProgressCallback | None = None,
        on_request: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(
            budget=budget or LocalRequestBudget(), retry=retry, timeout=timeout, sleep=sleep
        )
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.page_workers = page_workers
        self.progress = progress
        self.on_request = on_request  # called with each answer's HTTP status (0: none)
        self.listings = ListingReader(self)

    def __repr__(self) -> str:  # never show the key
        return f"PagerDutyClient({self.base_url!r})"

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Token token={self._api_key}",
            "Accept": "application/vnd.pagerduty+json;version=2",
            "Content-Type": "application/json",
        }

    def answered(self, label: str, status: int) -> None:
        if self.on_request is not None:
            self.on_request(status)

    def no_answer(self, label: str, exc: Exception, attempts: int) -> Exception:
        """Name the variable and the URL: the usual cause is a wrong PAGERDUTY_API_URL."""
        return PagerDutyUnreachable(
            f"{API_URL_VARIABLE} {self.base_url}: no answer "
            f"({type(exc).__name__} after {attempts} attempts)"
        )

    # -- one request --------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: Params | Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> PagerDutyObject:
        """One API call with retries; returns the decoded JSON body."""
        label = f"{method} {path}"
        response = self.send(method, f"{self.base_url}{path}", label, params=params, json=json)
        status = response.status_code
        if status < 400:
            body: PagerDutyObject = json_body(response, label, PagerDutyError)
            return body
        if status in (401, 403):
            raise PagerDutyAuthError(
                f"PagerDuty rejected the API key ({status} {_error_message(response)}): "
                "check PAGERDUTY_API_KEY (a General Access REST API key with read access)"
            )
        error = PagerDutyNotFoundError if status == 404 else PagerDutyError
        raise error(f"{label}: HTTP {status} {_error_message(response)}")

    def get(self, path: str, params: Params | Mapping[str, Any] | None = None) -> PagerDutyObject:
        return self.request("GET", path, params)

    # -- single objects -------------------------------------------------------------

    def get_service(self, service_id: str) -> PagerDutyObject | None:
        """The service with its teams, or None when PagerDuty answers 404 (deleted)."""
        try:
            body = self.get(f"/services/{service_id}", SERVICE_INCLUDES)
        except PagerDutyNotFoundError:
            return None
        service: PagerDutyObject = without_integration_keys(body["service"])
        return service

    def get_user(self, user_id: str) -> PagerDutyObject | None:
        """The user with its team references, or None on 404 (deleted)."""
        try:
            user: PagerDutyObject = self.get(f"/users/{user_id}", USER_INCLUDES)["user"]
        except PagerDutyNotFoundError:
            return None
        return user

    def get_team(self, team_id: str) -> PagerDutyObject | None:
        """The team, or None on 404 (deleted)."""
        try:
            team: PagerDutyObject = self.get(f"/teams/{team_id}")["team"]
        except PagerDutyNotFoundError:
            return None
        return team

    def team_members(self, team_id: str) -> list[PagerDutyObject] | None:
        """`{user, role}` of every member, or None on 404 (the team was deleted meanwhile)."""
        listing = Listing(f"/teams/{team_id}/members", "members", [], member_identity)
        try:
            return self.listings.all_pages(listing)
        except PagerDutyNotFoundError:
            return None

    def audit_records_page(
        self,
        root_resource_types: Sequence[str],
        *,
        since: str | None = None,
        cursor: str | None = None,
        limit: int = AUDIT_PAGE_SIZE,
    ) -> tuple[list[PagerDutyObject], str | None]:
        """One page of `GET /audit/records` (newest first) and its `next_cursor` (None: the
        last page). Without `since` PagerDuty answers the past 24 hours.

        Raises AuditTrailUnavailable on 402 (the plan lacks the Audit Trail) and 403 (the
        key is neither an admin/owner user's nor an account-level key): not a key error.
        """
        params: Params = [("root_resource_types[]", t) for t in root_resource_types]
        params.append(("limit", str(limit)))
        if since is not None:
            params.append(("since", since))
        if cursor is not None:
            params.append(("cursor", cursor))
        label = "GET /audit/records"
        response = self.send("GET", f"{self.base_url}/audit/records", label, params=params)
        if response.status_code in AUDIT_REFUSALS:
            raise AuditTrailUnavailable(
                response.status_code,
                f"{AUDIT_REFUSALS[response.status_code]} "
                f"(HTTP {response.status_code} {_error_message(response)})",
            )
        if response.status_code >= 400:
            raise PagerDutyError(f"{label}: HTTP {response.status_code} {_error_message(response)}")
        body: PagerDutyObject = json_body(response, label, PagerDutyError)
        return list(body.get("records") or []), body.get("next_cursor") or None

    def abilities(self) -> list[str]:
        abilities: list[str] = self.get("/abilities").get("abilities", [])
        return abilities

    # -- listings -------------------------------------------------------------------

    def list_teams(self) -> list[PagerDutyObject]:
        listing = Listing("/teams", "teams", [], object_id)
        return self.listings.everything(listing, team_ids=(), search_text=name_search_text)

    def list_users(self, team_ids: Sequence[str] = ()) -> list[PagerDutyObject]:
        """Every user. `team_ids` (all teams) lets a listing past 10,000 users be split."""
        listing = Listing("/users", "users", USER_INCLUDES, object_id)
        return self.listings.everything(listing, team_ids=team_ids, search_text=user_search_text)

    def list_services(self, team_ids: Sequence[str] = ()) -> list[PagerDutyObject]:
        listing = Listing("/services", "services", SERVICE_INCLUDES, object_id)
        services = self.listings.everything(
            listing, team_ids=team_ids, search_text=name_search_text
        )
        return [without_integration_keys(s) for s in services]

    def list_escalation_policies(self, team_ids: Sequence[str] = ()) -> list[PagerDutyObject]:
        """Every policy with its rules (targets), services and teams."""
        listing = Listing(
            "/escalation_policies", "escalation_policies", [("include[]", "teams")], object_id
        )
        return self.listings.everything(listing, team_ids=team_ids, search_text=name_search_text)

    def list_schedules(self) -> list[PagerDutyObject]:
        """Every schedule (references only: `get_schedule` reads layers and coverage)."""
        listing = Listing("/schedules", "schedules", [], object_id)
        return self.listings.everything(listing, team_ids=(), search_text=name_search_text)

    def get_schedule(
        self, schedule_id: str, window: tuple[str, str] | None = None
    ) -> PagerDutyObject | None:
        """The schedule with its layers, and with `window` (since, until) its final
        schedule rendered over it; None on 404 (deleted)."""
        params: Params = [("since", window[0]), ("until", window[1])] if window else []
        try:
            schedule: PagerDutyObject = self.get(f"/schedules/{schedule_id}", params)["schedule"]
        except PagerDutyNotFoundError:
            return None
        return schedule

    def get_escalation_policy(self, policy_id: str) -> PagerDutyObject | None:
        """The policy with its rules, services and teams; None on 404 (deleted)."""
        try:
            body = self.get(f"/escalation_policies/{policy_id}", [("include[]", "teams")])
        except PagerDutyNotFoundError:
            return None
        policy: PagerDutyObject = body["escalation_policy"]
        return policy

    def list_oncalls(self, escalation_policy_ids: Sequence[str] = ()) -> list[PagerDutyObject]:
        """Who is on call now, for every policy (split by policy ids past 10,000 entries).

        Past the cap only the policies that services use matter to the graph, and each
        policy's on-calls must be complete (no query filter exists to reach the rest).
        """
        return self.listings.whole_or_by_ids(
            _oncalls_listing(), "escalation_policy_ids[]", escalation_policy_ids
        )

    def oncalls_for_policies(self, escalation_policy_ids: Sequence[str]) -> list[PagerDutyObject]:
        """Who is on call now for these policies only (the webhook path's on-call read)."""
        return self.listings.by_ids(
            _oncalls_listing(), "escalation_policy_ids[]", escalation_policy_ids
        )

    # -- webhook subscriptions ------------------------------------------------------

    def webhook_subscriptions(self) -> list[PagerDutyObject]:
        listing = Listing("/webhook_subscriptions", "webhook_subscriptions", [], object_id)
        return self.listings.all_pages(listing)

    def create_webhook_subscription(
        self, url: str, events: Sequence[str], description: str
    ) -> PagerDutyObject:
        """An account-wide v3 subscription; its response is the only place the secret shows."""
        body = {
            "webhook_subscription": {
                "type": "webhook_subscription",
                "delivery_method": {"type": "http_delivery_method", "url": url},
                "events": list(events),
                "filter": {"type": "account_reference"},
                "description": description,
            }
        }
        created: PagerDutyObject = self.request("POST", "/webhook_subscriptions", json=body)[
            "webhook_subscription"
        ]
        return created


def client_from_settings(
    settings: Settings,
    connection: redis.Redis | None,
    progress: ProgressCallback | None = None,
    *,
    patient: bool = True,
) -> PagerDutyClient:
    """The client every process uses: its request budget shared through Redis.

    `patient=False` is for a person waiting at a terminal (`pdgraph check`): two attempts
    and short waits, so an unreachable PagerDuty is reported in seconds, not minutes.
    """
    limit = settings.pagerduty_requests_per_minute
    budget = (
        RedisRequestBudget(connection, settings.pagerduty_key_fingerprint(), limit=limit)
        if connection is not None
        else LocalRequestBudget(limit=limit)
    )
    return PagerDutyClient(
        settings.require_pagerduty_key(),
        settings.pagerduty_api_url,
        budget=budget,
        retry=None if patient else INTERACTIVE_RETRY,
        progress=progress,
        on_request=metrics.pagerduty_request,
    )
