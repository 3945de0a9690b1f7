"""PagerDuty REST API v2 client (requests).

Better than the official client on the points pdgraph depends on (see
shared/reference/pagerduty.md): `ratelimit-reset` honoured and shared between processes,
5xx/408/connection errors retried with capped exponential backoff and jitter, 401/403
failing at once, a timeout on every request, and listings past the 10,000 offset cap
reached through filters instead of silently truncated (common.pagerduty.listings).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis
import requests

from common import metrics
from common.config import Settings
from common.http import INTERACTIVE_RETRY, RetryingClient, RetryPolicy, json_body
from common.pagerduty.errors import (
    PagerDutyAuthError,
    PagerDutyError,
    PagerDutyNotFoundError,
    PagerDutyUnreachable,
)
from common.pagerduty.listings import (
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
from common.ratelimit import LocalRequestBudget, RedisRequestBudget, RequestBudget

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
            body = self.get(f"/services/{service_id}", [("include[]", "teams")])
        except PagerDutyNotFoundError:
            return None
        service: PagerDutyObject = body["service"]
        return service

    def abilities(self) -> list[str]:
        abilities: list[str] = self.get("/abilities").get("abilities", [])
        return abilities

    # -- listings -------------------------------------------------------------------

    def list_teams(self) -> list[PagerDutyObject]:
        listing = Listing("/teams", "teams", [], object_id)
        return self.listings.everything(listing, team_ids=(), search_text=name_search_text)

    def list_users(self, team_ids: Sequence[str] = ()) -> list[PagerDutyObject]:
        """Every user. `team_ids` (all teams) lets a listing past 10,000 users be split."""
        listing = Listing("/users", "users", [], object_id)
        return self.listings.everything(listing, team_ids=team_ids, search_text=user_search_text)

    def list_services(self, team_ids: Sequence[str] = ()) -> list[PagerDutyObject]:
        listing = Listing("/services", "services", [("include[]", "teams")], object_id)
        return self.listings.everything(listing, team_ids=team_ids, search_text=name_search_text)

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
