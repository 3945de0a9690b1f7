"""Reading a whole account: every listing the graph needs, and each schedule's coverage.

I/O only (the graph is built by common.transform). Any failure raises: nothing partial.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from common.clients.pagerduty.client import PagerDutyClient
from common.clients.pagerduty.listings import PagerDutyObject, ProgressCallback
from common.transform import COVERAGE_DAYS

# The listings a full sync reads, in the order its reports name them.
LISTINGS = ("users", "teams", "services", "escalation_policies", "schedules", "oncalls")


@dataclass
class AccountSnapshot:
    users: list[PagerDutyObject]
    teams: list[PagerDutyObject]
    services: list[PagerDutyObject]
    escalation_policies: list[PagerDutyObject]
    schedules: list[PagerDutyObject]  # each with its final schedule over `window`
    oncalls: list[PagerDutyObject]
    window: tuple[str, str]  # (since, until) of the schedules' coverage, ISO 8601 UTC

    def counts(self) -> dict[str, int]:
        """Objects read per listing, in the order of LISTINGS."""
        return {name: len(getattr(self, name)) for name in LISTINGS}

    def consume(self, listing: str) -> Iterator[PagerDutyObject]:
        """The listing's objects in order, each let go of once handed out (a full sync's
        peak memory is then the graph and one object, not the graph and every listing)."""
        objects: list[PagerDutyObject] = getattr(self, listing)
        setattr(self, listing, [])
        objects.reverse()
        while objects:
            yield objects.pop()


def coverage_window(now: datetime | None = None) -> tuple[str, str]:
    """The 7 days from now (whole seconds, UTC) a schedule's coverage is read for."""
    start = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    end = start + timedelta(days=COVERAGE_DAYS)
    return start.isoformat(), end.isoformat()


def read_schedules(
    client: PagerDutyClient, schedule_ids: Sequence[str], window: tuple[str, str]
) -> list[PagerDutyObject]:
    """Each schedule with its layers and final schedule over `window` (one request each);
    a schedule deleted between the listing and its read is left out."""
    with ThreadPoolExecutor(max_workers=max(1, client.page_workers)) as pool:
        read = list(pool.map(lambda sid: client.get_schedule(sid, window), schedule_ids))
    return [s for s in read if s is not None]


def get_account(
    client: PagerDutyClient,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> AccountSnapshot:
    """Every listing the graph needs. Any failure raises: nothing partial.

    `progress` gets each listing's final count, `(name, n, n)`, once it is read: past the
    10,000 offset cap a listing is read in parts whose own reports are not the listing's,
    and the last word must be the count the run reports.
    """

    def read(name: str, objects: list[PagerDutyObject]) -> list[PagerDutyObject]:
        if progress is not None:
            progress(name, len(objects), len(objects))
        return objects

    window = coverage_window(now)
    # /abilities lacks "teams" on accounts without the Teams feature; /teams fails there.
    teams = read("teams", client.list_teams() if "teams" in client.abilities() else [])
    team_ids = [t["id"] for t in teams]
    with ThreadPoolExecutor(max_workers=4) as pool:
        users_future = pool.submit(client.list_users, team_ids)
        services_future = pool.submit(client.list_services, team_ids)
        policies_future = pool.submit(client.list_escalation_policies, team_ids)
        schedules_future = pool.submit(client.list_schedules)
        services = read("services", services_future.result())
        users = read("users", users_future.result())
        policies = read("escalation_policies", policies_future.result())
        listed = schedules_future.result()
    schedules = read("schedules", read_schedules(client, [s["id"] for s in listed], window))
    policy_ids = sorted(
        {s["escalation_policy"]["id"] for s in services if s.get("escalation_policy")}
    )
    oncalls = read("oncalls", client.list_oncalls(policy_ids))
    return AccountSnapshot(users, teams, services, policies, schedules, oncalls, window)
