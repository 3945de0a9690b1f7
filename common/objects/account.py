"""Reading a whole account: every kind's listing, stage by stage (I/O only; the graph is
built by `build_graph`). Any failure raises: nothing partial.

Teams come first (stage 0: the other listings ask for each object's teams by team id),
then users, schedules (each with its coverage), policies and services at once (stage 1),
then the on-calls of the services' policies (stage 2).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from common.clients.pagerduty import PagerDutyClient, ProgressCallback
from common.objects import KINDS
from common.objects.base import SEED, AccountRead, Build, GraphModel, ObjectKind, PagerDutyObject
from common.objects.schedule import coverage_window, window_ms


@dataclass
class AccountSnapshot:
    """The listings read, by name, in the order of the kinds read."""

    listings: dict[str, list[PagerDutyObject]]
    window: tuple[str, str]  # (since, until) of the schedules' coverage, ISO 8601 UTC

    def counts(self) -> dict[str, int]:
        """Objects read per listing."""
        return {name: len(objects) for name, objects in self.listings.items()}

    def consume(self, listing: str) -> Iterator[PagerDutyObject]:
        """The listing's objects in order, each let go of once handed out (a full sync's
        peak memory is then the graph and one object, not the graph and every listing)."""
        objects = self.listings.get(listing, [])
        self.listings[listing] = []
        objects.reverse()
        while objects:
            yield objects.pop()

    def consuming(self) -> dict[str, Iterator[PagerDutyObject]]:
        """Every listing as `consume` hands it out (what `build_graph` takes)."""
        return {name: self.consume(name) for name in list(self.listings)}

    def build(self, account_name: str | None, model: GraphModel = SEED) -> Build:
        return Build(account_name, model, window_ms(self.window))


def read_account(
    client: PagerDutyClient,
    kinds: Sequence[ObjectKind] = KINDS,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
    kept: Mapping[str, Sequence[PagerDutyObject]] | None = None,
) -> AccountSnapshot:
    """Every listing of these kinds. Any failure raises: nothing partial.

    `progress` gets each listing's final count, `(name, n, n)`, once it is read: past the
    10,000 offset cap a listing is read in parts whose own reports are not the listing's,
    and the last word must be the count the run reports. `kept`: what a background pass
    read before, for the kinds that take it rather than read (`AccountRead.kept`).
    """
    window = coverage_window(now)
    listings: dict[str, list[PagerDutyObject]] = {}
    for _, stage in groupby(sorted(kinds, key=lambda k: k.stage), key=lambda k: k.stage):
        read = AccountRead(window, dict(listings), kept or {})
        batch = list(stage)
        with ThreadPoolExecutor(max_workers=len(batch)) as pool:
            futures = [(k.listing, pool.submit(k.list_all, client, read)) for k in batch]
            for name, future in futures:
                listings[name] = list(future.result())
                if progress is not None and name not in (kept or {}):
                    progress(name, len(listings[name]), len(listings[name]))
    return AccountSnapshot({k.listing: listings[k.listing] for k in kinds}, window)
