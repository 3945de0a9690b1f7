"""PagerDuty REST API v2 client (requests).

Better than the official client on the points pdgraph depends on (see
shared/reference/pagerduty.md): `ratelimit-reset` honoured and shared between processes,
5xx/408/connection errors retried with capped exponential backoff and jitter, 401/403
failing at once, a timeout on every request, and listings past the 10,000 offset cap
reached through filters instead of silently truncated.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis
import requests

from common import metrics
from common.config import Settings
from common.http import RetryingClient, RetryPolicy
from common.ratelimit import LocalRequestBudget, RedisRequestBudget, RequestBudget

log = logging.getLogger(__name__)

PAGE_SIZE = 100
OFFSET_CAP = 10_000  # classic pagination: offset + limit > 10,000 answers 400
FILTER_CHUNK = 100  # ids per team_ids[] / escalation_policy_ids[] request
MAX_QUERY_PROBES = 20_000  # bound on the query cover; past it the listing fails loudly

Params = list[tuple[str, str]]
PagerDutyObject = dict[str, Any]
ProgressCallback = Callable[[str, int, int], None]


class PagerDutyError(Exception):
    """A PagerDuty request failed for good."""


class PagerDutyAuthError(PagerDutyError):
    """401/403: the key is wrong or lacks access; retrying cannot help."""


class PagerDutyNotFoundError(PagerDutyError):
    """404: the object does not exist (for a re-read: it was deleted)."""


class IncompleteListingError(PagerDutyError):
    """A listing could not reach every object PagerDuty says exists."""


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


@dataclass
class _Listing:
    """One listing endpoint: where it is, what its items are called, how to dedupe them."""

    path: str
    key: str
    params: Params
    identity: Callable[[PagerDutyObject], Any]


def _object_id(obj: PagerDutyObject) -> Any:
    return obj["id"]


def _oncall_identity(oncall: PagerDutyObject) -> Any:
    def ref(name: str) -> Any:
        return (oncall.get(name) or {}).get("id")

    return (
        ref("escalation_policy"),
        oncall.get("escalation_level"),
        ref("user"),
        ref("schedule"),
        oncall.get("start"),
        oncall.get("end"),
    )


def _user_search_text(user: PagerDutyObject) -> str:
    return f"{user.get('name') or ''}\n{user.get('email') or ''}".lower()


def _name_search_text(obj: PagerDutyObject) -> str:
    return str(obj.get("name") or "").lower()


class _QueryCover:
    """Book-keeping of the query cover: what each probed query matches, known and unknown."""

    def __init__(
        self,
        listing: _Listing,
        collected: dict[Any, PagerDutyObject],
        search_text: Callable[[PagerDutyObject], str],
    ) -> None:
        self.listing = listing
        self.collected = collected
        self.search_text = search_text
        self.texts = {key: search_text(obj) for key, obj in collected.items()}
        self.matching: dict[str, int] = {}  # probed query -> objects PagerDuty says match
        self.known: dict[str, int] = {}  # probed query -> known objects that match
        self.read_whole: set[str] = set()

    def alphabet(self) -> list[str]:
        return sorted({c for text in self.texts.values() for c in text} - {"\n"})

    def add(self, items: Iterable[PagerDutyObject]) -> None:
        for obj in items:
            key = self.listing.identity(obj)
            is_new = key not in self.texts
            self.collected[key] = obj
            if is_new:
                text = self.texts[key] = self.search_text(obj)
                for query in self.known:
                    if query in text:
                        self.known[query] += 1

    def probed(self, query: str, matching: int, first: list[PagerDutyObject]) -> None:
        self.matching[query] = matching
        self.known[query] = sum(1 for text in self.texts.values() if query in text)
        self.add(first)
        if matching <= PAGE_SIZE:
            self.read_whole.add(query)  # the probe was the whole of it

    def best_to_read(self) -> str | None:
        """The readable query bringing the most unknown objects per page, if any."""
        best, best_yield = None, 0.0
        for query, matching in self.matching.items():
            unknown = matching - self.known[query]
            if query in self.read_whole or matching > OFFSET_CAP or unknown <= 0:
                continue
            pages = -(-(matching - PAGE_SIZE) // PAGE_SIZE)
            if unknown / pages > best_yield:
                best, best_yield = query, unknown / pages
        return best

    def hiding_unknowns(self) -> list[str]:
        """Probed queries past the cap that match objects not yet known."""
        return [
            q
            for q, matching in self.matching.items()
            if matching > OFFSET_CAP and matching > self.known[q]
        ]

    def neighbours(self, query: str, *, everything: bool) -> tuple[list[str], list[str]]:
        """Characters to extend `query` with, on the left and on the right."""
        if everything:
            alphabet = self.alphabet()
            return alphabet, alphabet
        left: set[str] = set()
        right: set[str] = set()
        width = len(query)
        for text in self.texts.values():
            start = text.find(query)
            while start != -1:
                if start > 0:
                    left.add(text[start - 1])
                if start + width < len(text):
                    right.add(text[start + width])
                start = text.find(query, start + 1)
        return sorted(left - {"\n"}), sorted(right - {"\n"})


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
            try:
                body: PagerDutyObject = response.json() if response.content else {}
            except ValueError:
                raise PagerDutyError(
                    f"{label}: HTTP {status} with a body that is not JSON"
                ) from None
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
        listing = _Listing("/teams", "teams", [], _object_id)
        return self._list_everything(listing, team_ids=(), search_text=_name_search_text)

    def list_users(self, team_ids: Sequence[str] = ()) -> list[PagerDutyObject]:
        """Every user. `team_ids` (all teams) lets a listing past 10,000 users be split."""
        listing = _Listing("/users", "users", [], _object_id)
        return self._list_everything(listing, team_ids=team_ids, search_text=_user_search_text)

    def list_services(self, team_ids: Sequence[str] = ()) -> list[PagerDutyObject]:
        listing = _Listing("/services", "services", [("include[]", "teams")], _object_id)
        return self._list_everything(listing, team_ids=team_ids, search_text=_name_search_text)

    def list_oncalls(self, escalation_policy_ids: Sequence[str] = ()) -> list[PagerDutyObject]:
        """Who is on call now, for every policy (split by policy ids past 10,000 entries)."""
        listing = _Listing("/oncalls", "oncalls", [("time_zone", "UTC")], _oncall_identity)
        first, total = self._first_page(listing, [])
        if total <= OFFSET_CAP:
            items = self._rest_of_listing(listing, [], first, total)
            return list({listing.identity(o): o for o in items}.values())
        # Past the cap: only the policies that services use matter to the graph, and each
        # policy's on-calls must be complete (no query filter exists to reach the rest).
        collected: dict[Any, PagerDutyObject] = {}
        self._collect_by_ids(
            listing, "escalation_policy_ids[]", escalation_policy_ids, collected, strict=True
        )
        return list(collected.values())

    def webhook_subscriptions(self) -> list[PagerDutyObject]:
        listing = _Listing("/webhook_subscriptions", "webhook_subscriptions", [], _object_id)
        first, total = self._first_page(listing, [])
        return self._rest_of_listing(listing, [], first, total)

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

    def oncalls_for_policies(self, escalation_policy_ids: Sequence[str]) -> list[PagerDutyObject]:
        """Who is on call now for these policies only (the webhook path's on-call read)."""
        listing = _Listing("/oncalls", "oncalls", [("time_zone", "UTC")], _oncall_identity)
        collected: dict[Any, PagerDutyObject] = {}
        self._collect_by_ids(
            listing, "escalation_policy_ids[]", escalation_policy_ids, collected, strict=True
        )
        return list(collected.values())

    def _list_everything(
        self,
        listing: _Listing,
        *,
        team_ids: Sequence[str],
        search_text: Callable[[PagerDutyObject], str],
    ) -> list[PagerDutyObject]:
        first, total = self._first_page(listing, [])
        if total <= OFFSET_CAP:
            items = self._rest_of_listing(listing, [], first, total)
            collected = {listing.identity(o): o for o in items}
            self._require_complete(listing, collected, total)
            return list(collected.values())
        # Past the cap: split by team, then by query, de-duplicate, check against total.
        log.info(
            "listing past the offset cap; splitting it",
            extra={"path": listing.path, "total": total},
        )
        collected = {listing.identity(o): o for o in first}
        if team_ids:
            self._collect_by_ids(listing, "team_ids[]", team_ids, collected)
        if len(collected) < total:
            self._collect_by_query(listing, collected, total, search_text)
        self._require_complete(listing, collected, total)
        return list(collected.values())

    def _page(
        self, listing: _Listing, extra: Params, offset: int, *, with_total: bool = False
    ) -> PagerDutyObject:
        params = [
            *listing.params,
            *extra,
            ("limit", str(PAGE_SIZE)),
            ("offset", str(offset)),
        ]
        if with_total:
            params.append(("total", "true"))
        return self.get(listing.path, params)

    def _first_page(self, listing: _Listing, extra: Params) -> tuple[list[PagerDutyObject], int]:
        body = self._page(listing, extra, 0, with_total=True)
        items: list[PagerDutyObject] = body.get(listing.key, [])
        total = body.get("total")
        if total is None:  # total=true ignored: fall back to following `more`
            total = len(items) if not body.get("more") else OFFSET_CAP + 1
        return items, int(total)

    def _rest_of_listing(
        self,
        listing: _Listing,
        extra: Params,
        first: list[PagerDutyObject],
        total: int,
    ) -> list[PagerDutyObject]:
        """Pages after the first, fetched concurrently (the offsets are known from `total`)."""
        offsets = list(range(PAGE_SIZE, min(total, OFFSET_CAP), PAGE_SIZE))
        items = list(first)
        self._report(listing, len(items), total)
        if not offsets:
            return items
        with ThreadPoolExecutor(max_workers=self.page_workers) as pool:
            for body in pool.map(lambda off: self._page(listing, extra, off), offsets):
                items.extend(body.get(listing.key, []))
                self._report(listing, len(items), total)
        # Objects created while we paged push later ones past our last offset: follow `more`.
        offset = offsets[-1] + PAGE_SIZE
        while body.get("more") and offset + PAGE_SIZE <= OFFSET_CAP:
            body = self._page(listing, extra, offset)
            items.extend(body.get(listing.key, []))
            offset += PAGE_SIZE
        return items

    def _collect_by_ids(
        self,
        listing: _Listing,
        param: str,
        ids: Sequence[str],
        collected: dict[Any, PagerDutyObject],
        *,
        strict: bool = False,
    ) -> None:
        """Read the listing filtered by chunks of ids; chunks over the cap are halved.

        One id still past the cap is an error when `strict`, else its first page is kept
        and the caller reaches the rest another way.
        """
        chunks: deque[Sequence[str]] = deque(
            ids[i : i + FILTER_CHUNK] for i in range(0, len(ids), FILTER_CHUNK)
        )
        while chunks:
            chunk = chunks.popleft()
            extra = [(param, i) for i in chunk]
            first, total = self._first_page(listing, extra)
            if total > OFFSET_CAP:
                if len(chunk) == 1:
                    if strict:
                        raise IncompleteListingError(
                            f"GET {listing.path}: {param}={chunk[0]} alone has {total} "
                            "objects, past the 10,000 offset cap"
                        )
                    log.warning(
                        "one filter value is past the offset cap",
                        extra={"path": listing.path, "filter": param, "total": total},
                    )
                    collected.update((listing.identity(o), o) for o in first)
                    continue
                half = len(chunk) // 2
                chunks.extendleft([chunk[half:], chunk[:half]])
                continue
            for obj in self._rest_of_listing(listing, extra, first, total):
                collected[listing.identity(obj)] = obj

    def _collect_by_query(
        self,
        listing: _Listing,
        collected: dict[Any, PagerDutyObject],
        total: int,
        search_text: Callable[[PagerDutyObject], str],
    ) -> None:
        """Reach the objects no other filter reached with substring queries, cheapest first.

        `query` matches substrings, so queries overlap. A probe (first page, total=true)
        tells how many objects a query matches; counting the known objects it matches
        gives exactly how many unknown ones reading it would bring. Queries are read in
        order of unknown objects per page; one past the offset cap is refined to q+c and
        c+q with the characters seen beside q (then, if objects are still missing, with
        every character seen). The caller checks the result against the listing's total.
        """
        search = _QueryCover(listing, collected, search_text)
        exhaustive = False
        frontier: deque[str] = deque(search.alphabet())
        refined: set[str] = set()
        while len(collected) < total:
            while frontier and len(search.matching) < MAX_QUERY_PROBES:
                query = frontier.popleft()
                if query not in search.matching:
                    first, matching = self._first_page(listing, [("query", query)])
                    search.probed(query, matching, first)
            best = search.best_to_read()
            if best is not None:
                search.read_whole.add(best)
                items = self._rest_of_listing(listing, [("query", best)], [], search.matching[best])
                search.add(items)
                continue
            over_cap = [q for q in search.hiding_unknowns() if q not in refined]
            if not over_cap:
                if exhaustive or len(search.matching) >= MAX_QUERY_PROBES:
                    return
                exhaustive, refined = True, set()
                over_cap = search.hiding_unknowns()
            for query in over_cap:
                refined.add(query)
                left, right = search.neighbours(query, everything=exhaustive)
                frontier.extend(query + c for c in right)
                frontier.extend(c + query for c in left)

    def _require_complete(
        self, listing: _Listing, collected: Mapping[Any, PagerDutyObject], total: int
    ) -> None:
        if len(collected) < total:
            raise IncompleteListingError(
                f"GET {listing.path}: reached {len(collected)} of {total} objects; "
                "refusing to sync a partial account"
            )

    def _report(self, listing: _Listing, fetched: int, total: int) -> None:
        if self.progress is not None:
            self.progress(listing.key, min(fetched, total), total)


def client_from_settings(
    settings: Settings,
    connection: redis.Redis | None,
    progress: ProgressCallback | None = None,
) -> PagerDutyClient:
    """The client every process uses: its request budget shared through Redis."""
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
        progress=progress,
        on_request=metrics.pagerduty_request,
    )
