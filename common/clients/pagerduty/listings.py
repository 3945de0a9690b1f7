"""Whole PagerDuty listings, past the 10,000 offset cap.

Classic pagination answers 400 once offset + limit passes 10,000, so a larger listing is
split by filters (team ids, escalation policy ids) and, for what no filter reaches, by a
cover of substring queries; the result is checked against the listing's `total` rather
than silently truncated.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from common.clients.pagerduty.errors import IncompleteListingError

log = logging.getLogger(__name__)

PAGE_SIZE = 100
OFFSET_CAP = 10_000  # classic pagination: offset + limit > 10,000 answers 400
FILTER_CHUNK = 100  # ids per team_ids[] / escalation_policy_ids[] request
MAX_QUERY_PROBES = 20_000  # bound on the query cover; past it the listing fails loudly

Params = list[tuple[str, str]]
PagerDutyObject = dict[str, Any]
ProgressCallback = Callable[[str, int, int], None]
SearchText = Callable[[PagerDutyObject], str]


@dataclass
class Listing:
    """One listing endpoint: where it is, what its items are called, how to dedupe them."""

    path: str
    key: str
    params: Params
    identity: Callable[[PagerDutyObject], Any]


def object_id(obj: PagerDutyObject) -> Any:
    return obj["id"]


def oncall_identity(oncall: PagerDutyObject) -> Any:
    """On-call entries have no id: one entry is a policy level, a user, a schedule, a shift."""

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


def user_search_text(user: PagerDutyObject) -> str:
    """What PagerDuty's `query` matches on a user: name or email."""
    return f"{user.get('name') or ''}\n{user.get('email') or ''}".lower()


def name_search_text(obj: PagerDutyObject) -> str:
    return str(obj.get("name") or "").lower()


class QueryCover:
    """Book-keeping of the query cover: what each probed query matches, known and unknown."""

    def __init__(
        self,
        identity: Callable[[PagerDutyObject], Any],
        collected: dict[Any, PagerDutyObject],
        search_text: Callable[[PagerDutyObject], str],
    ) -> None:
        self.identity = identity
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
            key = self.identity(obj)
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


class PageSource(Protocol):
    """What a ListingReader needs from the client: GET, a pool size and a progress hook."""

    page_workers: int
    progress: ProgressCallback | None

    def get(
        self, path: str, params: Params | Mapping[str, Any] | None = None
    ) -> PagerDutyObject: ...


class ListingReader:
    """Reads whole listings through a client's GET, splitting them past the offset cap."""

    def __init__(self, source: PageSource) -> None:
        self.source = source

    def everything(
        self, listing: Listing, *, team_ids: Sequence[str], search_text: SearchText
    ) -> list[PagerDutyObject]:
        """Every object: split by team, then by query past the cap; checked against total."""
        first, total = self.first_page(listing, [])
        if total <= OFFSET_CAP:
            items = self.rest_of_listing(listing, [], first, total)
            collected = {listing.identity(o): o for o in items}
            self._require_complete(listing, collected, total)
            return list(collected.values())
        log.info(
            "listing past the offset cap; splitting it",
            extra={"path": listing.path, "total": total},
        )
        collected = {listing.identity(o): o for o in first}
        if team_ids:
            self.collect_by_ids(listing, "team_ids[]", team_ids, collected, whole_total=total)
        if len(collected) < total:
            self._collect_by_query(listing, collected, total, search_text)
        self._require_complete(listing, collected, total)
        return list(collected.values())

    def all_pages(self, listing: Listing) -> list[PagerDutyObject]:
        """A listing known to stay under the cap, page after page."""
        first, total = self.first_page(listing, [])
        return self.rest_of_listing(listing, [], first, total)

    def whole_or_by_ids(
        self, listing: Listing, param: str, ids: Sequence[str]
    ) -> list[PagerDutyObject]:
        """The whole listing, de-duplicated; past the cap, every object of these ids."""
        first, total = self.first_page(listing, [])
        if total > OFFSET_CAP:
            return self.by_ids(listing, param, ids, whole_total=total)
        items = self._checked(listing, self.rest_of_listing(listing, [], first, total), total)
        return list({listing.identity(o): o for o in items}.values())

    def by_ids(
        self, listing: Listing, param: str, ids: Sequence[str], whole_total: int | None = None
    ) -> list[PagerDutyObject]:
        """Every object of these ids (filtered by `param`); one id past the cap fails."""
        collected: dict[Any, PagerDutyObject] = {}
        self.collect_by_ids(listing, param, ids, collected, strict=True, whole_total=whole_total)
        return list(collected.values())

    def _page(
        self, listing: Listing, extra: Params, offset: int, *, with_total: bool = False
    ) -> PagerDutyObject:
        params = [
            *listing.params,
            *extra,
            ("limit", str(PAGE_SIZE)),
            ("offset", str(offset)),
        ]
        if with_total:
            params.append(("total", "true"))
        return self.source.get(listing.path, params)

    def first_page(self, listing: Listing, extra: Params) -> tuple[list[PagerDutyObject], int]:
        """The first page and the listing's total (total=true)."""
        body = self._page(listing, extra, 0, with_total=True)
        items: list[PagerDutyObject] = body.get(listing.key, [])
        total = body.get("total")
        if total is None:  # total=true ignored: fall back to following `more`
            total = len(items) if not body.get("more") else OFFSET_CAP + 1
        return items, int(total)

    def rest_of_listing(
        self,
        listing: Listing,
        extra: Params,
        first: list[PagerDutyObject],
        total: int,
        *,
        report: bool = True,
    ) -> list[PagerDutyObject]:
        """Pages after the first, fetched concurrently (the offsets are known from `total`).

        `report=False` for a part of a split listing: the caller reports the whole's count.
        """
        offsets = list(range(PAGE_SIZE, min(total, OFFSET_CAP), PAGE_SIZE))
        items = list(first)
        report_page = self._report if report else _no_report
        report_page(listing, len(items), total)
        if not offsets:
            return items
        with ThreadPoolExecutor(max_workers=self.source.page_workers) as pool:
            for body in pool.map(lambda off: self._page(listing, extra, off), offsets):
                items.extend(body.get(listing.key, []))
                report_page(listing, len(items), total)
        # Objects created while we paged push later ones past our last offset: follow `more`.
        offset = offsets[-1] + PAGE_SIZE
        while body.get("more") and offset + PAGE_SIZE <= OFFSET_CAP:
            body = self._page(listing, extra, offset)
            items.extend(body.get(listing.key, []))
            offset += PAGE_SIZE
        return items

    def collect_by_ids(
        self,
        listing: Listing,
        param: str,
        ids: Sequence[str],
        collected: dict[Any, PagerDutyObject],
        *,
        strict: bool = False,
        whole_total: int | None = None,
    ) -> None:
        """Read the listing filtered by chunks of ids; chunks over the cap are halved.

        One id still past the cap is an error when `strict`, else its first page is kept
        and the caller reaches the rest another way. Progress is reported as objects
        collected of `whole_total` (the unsplit listing's), when it is known.
        """
        chunks: deque[Sequence[str]] = deque(
            ids[i : i + FILTER_CHUNK] for i in range(0, len(ids), FILTER_CHUNK)
        )
        while chunks:
            chunk = chunks.popleft()
            extra = [(param, i) for i in chunk]
            first, total = self.first_page(listing, extra)
            if total <= OFFSET_CAP:
                part = self.rest_of_listing(listing, extra, first, total, report=False)
                for obj in self._checked(listing, part, total):
                    collected[listing.identity(obj)] = obj
                if whole_total is not None:
                    self._report(listing, len(collected), whole_total)
            elif len(chunk) > 1:
                half = len(chunk) // 2
                chunks.extendleft([chunk[half:], chunk[:half]])
            elif strict:
                raise IncompleteListingError(
                    f"GET {listing.path}: {param}={chunk[0]} alone has {total} "
                    "objects, past the 10,000 offset cap"
                )
            else:
                log.warning(
                    "one filter value is past the offset cap",
                    extra={"path": listing.path, "filter": param, "total": total},
                )
                collected.update((listing.identity(o), o) for o in first)

    def _collect_by_query(
        self,
        listing: Listing,
        collected: dict[Any, PagerDutyObject],
        total: int,
        search_text: SearchText,
    ) -> None:
        """Reach the objects no other filter reached with substring queries, cheapest first.

        `query` matches substrings, so queries overlap. A probe (first page, total=true)
        tells how many objects a query matches; counting the known objects it matches
        gives exactly how many unknown ones reading it would bring. Queries are read in
        order of unknown objects per page; one past the offset cap is refined to q+c and
        c+q with the characters seen beside q (then, if objects are still missing, with
        every character seen). The caller checks the result against the listing's total.
        """
        cover = QueryCover(listing.identity, collected, search_text)
        exhaustive = False
        frontier: deque[str] = deque(cover.alphabet())
        refined: set[str] = set()
        while len(collected) < total:
            self._probe(listing, cover, frontier)
            best = cover.best_to_read()
            if best is not None:
                cover.read_whole.add(best)
                extra = [("query", best)]
                part = self.rest_of_listing(listing, extra, [], cover.matching[best], report=False)
                cover.add(part)
                self._report(listing, len(collected), total)
                continue
            over_cap = [q for q in cover.hiding_unknowns() if q not in refined]
            if not over_cap:
                if exhaustive or len(cover.matching) >= MAX_QUERY_PROBES:
                    return
                exhaustive, refined = True, set()
                over_cap = cover.hiding_unknowns()
            for query in over_cap:
                refined.add(query)
                left, right = cover.neighbours(query, everything=exhaustive)
                frontier.extend(query + c for c in right)
                frontier.extend(c + query for c in left)

    def _probe(self, listing: Listing, cover: QueryCover, frontier: deque[str]) -> None:
        """Probe the queued queries not yet probed (first page and total of each)."""
        while frontier and len(cover.matching) < MAX_QUERY_PROBES:
            query = frontier.popleft()
            if query not in cover.matching:
                first, matching = self.first_page(listing, [("query", query)])
                cover.probed(query, matching, first)

    def _require_complete(self, listing: Listing, collected: Sized, total: int) -> None:
        if len(collected) < total:
            raise IncompleteListingError(
                f"GET {listing.path}: reached {len(collected)} of {total} objects; "
                "refusing to sync a partial account"
            )

    def _checked(
        self, listing: Listing, items: list[PagerDutyObject], total: int
    ) -> list[PagerDutyObject]:
        """`items`, once there are as many as the listing's `total` (counted before any
        de-duplication: a page that failed or came back short must not pass)."""
        self._require_complete(listing, items, total)
        return items

    def _report(self, listing: Listing, fetched: int, total: int) -> None:
        if self.source.progress is not None:
            self.source.progress(listing.key, min(fetched, total), total)


def _no_report(listing: Listing, fetched: int, total: int) -> None:
    """Progress of a part of a split listing: not reported page by page."""
