"""The PagerDuty client against the simulator over real sockets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import common.clients.pagerduty.listings as listings
import sim.pagerduty.server as sim_server
from common.clients.pagerduty import (
    IncompleteListingError,
    PagerDutyAuthError,
    PagerDutyClient,
    PagerDutyError,
    PagerDutyUnreachable,
    RetryPolicy,
    client_from_settings,
)
from common.clients.ratelimit import LocalRequestBudget
from common.config import Settings
from sim.pagerduty import Account, PagerDutySim
from sim.redis_server import free_port
from tests.conftest import API_KEY

FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_cap=0.01)


class FakeClock:
    """Time that moves only when someone sleeps: waits are recorded, not spent."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(
    sim: PagerDutySim, clock: FakeClock | None = None, **kwargs: object
) -> PagerDutyClient:
    clock = clock or FakeClock()
    budget = LocalRequestBudget(clock=clock, sleep=clock.sleep)
    kwargs.setdefault("retry", FAST_RETRY)
    return PagerDutyClient(API_KEY, sim.url, budget=budget, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def test_429_with_ratelimit_reset_waits_exactly_that_long(sim: PagerDutySim) -> None:
    sim.inject("/abilities", 429, headers={"ratelimit-reset": "7", "ratelimit-remaining": "0"})
    clock = FakeClock()
    assert "teams" in client_for(sim, clock).abilities()
    assert clock.sleeps == [7.0]
    assert sim.request_counts()["/abilities"] == 2


def test_429_without_headers_backs_off_and_succeeds(sim: PagerDutySim) -> None:
    sim.inject("/abilities", 429, times=2)
    clock = FakeClock()
    retry = RetryPolicy(backoff_base=1.0, backoff_cap=30.0)
    assert client_for(sim, clock, retry=retry).abilities()
    assert len(clock.sleeps) == 2
    assert all(0.5 <= s <= 30.0 for s in clock.sleeps)
    assert sim.request_counts()["/abilities"] == 3


def test_endless_429_gives_up_after_the_wait_budget(sim: PagerDutySim) -> None:
    sim.inject("/abilities", 429, times=1000, headers={"ratelimit-reset": "60"})
    retry = RetryPolicy(rate_limit_max_wait=300)
    with pytest.raises(PagerDutyError, match="still rate limited"):
        client_for(sim, retry=retry).abilities()


def test_remaining_zero_pauses_before_the_next_request(sim: PagerDutySim) -> None:
    sim.inject(
        "/abilities",
        200,
        body={"abilities": ["teams"]},
        headers={"ratelimit-remaining": "0", "ratelimit-reset": "3"},
    )
    clock = FakeClock()
    client = client_for(sim, clock)
    client.abilities()
    assert clock.sleeps == []
    client.abilities()
    assert clock.sleeps == [3.0]


def test_5xx_then_success_is_retried_with_backoff(sim: PagerDutySim) -> None:
    sim.inject("/abilities", 503, times=2)
    sim.inject("/abilities", 500, times=1)
    clock = FakeClock()
    assert client_for(sim, clock).abilities()
    assert len(clock.sleeps) == 3
    assert sim.request_counts()["/abilities"] == 4


def test_persistent_5xx_fails_after_max_attempts(sim: PagerDutySim) -> None:
    sim.inject("/abilities", 502, times=100)
    with pytest.raises(PagerDutyError, match="HTTP 502 after 4 attempts"):
        client_for(sim).abilities()
    assert sim.request_counts()["/abilities"] == 4


def test_408_is_retried(sim: PagerDutySim) -> None:
    sim.inject("/abilities", 408)
    assert client_for(sim).abilities()


@pytest.mark.parametrize("status", [401, 403])
def test_bad_key_fails_at_once_and_names_the_variable(sim: PagerDutySim, status: int) -> None:
    sim.inject("/abilities", status, times=10)
    with pytest.raises(PagerDutyAuthError, match="PAGERDUTY_API_KEY") as info:
        client_for(sim).abilities()
    assert sim.request_counts()["/abilities"] == 1
    assert API_KEY not in str(info.value)


def test_wrong_key_is_reported_without_echoing_it(sim: PagerDutySim) -> None:
    client = PagerDutyClient("wrong-key-abcdef", sim.url, retry=FAST_RETRY)
    with pytest.raises(PagerDutyAuthError) as info:
        client.abilities()
    assert "wrong-key-abcdef" not in str(info.value)
    assert "wrong-key-abcdef" not in repr(client)


def test_connection_refused_is_retried_then_fails() -> None:
    client = PagerDutyClient(API_KEY, f"http://127.0.0.1:{free_port()}", retry=FAST_RETRY)
    with pytest.raises(PagerDutyError, match="ConnectionError after 4 attempts"):
        client.abilities()


def test_unreachable_pagerduty_names_the_variable_and_the_url_never_the_key() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = PagerDutyClient(API_KEY, url, retry=FAST_RETRY)
    with pytest.raises(PagerDutyUnreachable) as info:
        client.abilities()
    message = str(info.value)
    assert message == f"PAGERDUTY_API_URL {url}: no answer (ConnectionError after 4 attempts)"
    assert API_KEY not in message
    assert client.requests_made == 4


def test_an_impatient_client_gives_up_after_two_attempts() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settings = Settings(pagerduty_api_key=API_KEY, pagerduty_api_url=url)
    impatient = client_from_settings(settings, None, patient=False)
    with pytest.raises(PagerDutyUnreachable, match="ConnectionError after 2 attempts") as info:
        impatient.abilities()
    assert url in str(info.value)
    assert API_KEY not in str(info.value)
    assert impatient.requests_made == 2
    assert client_from_settings(settings, None).retry.max_attempts == 6


def test_timeout_is_retried(sim: PagerDutySim) -> None:
    sim.inject("/abilities", 200, body={"abilities": []}, delay=1.0)
    client = client_for(sim, timeout=(1.0, 0.2))
    assert client.abilities() == ["teams", "read_only_users", "urgencies"]
    assert sim.request_counts()["/abilities"] == 2


def test_deleted_service_reads_as_none(sim: PagerDutySim) -> None:
    client = client_for(sim)
    service_id = next(iter(sim.account.services))
    assert client.get_service(service_id)["id"] == service_id  # type: ignore[index]
    sim.account.delete_service(service_id)
    assert client.get_service(service_id) is None


def test_listing_pages_at_100_with_total_and_makes_the_minimum_requests(
    make_sim: Callable[..., PagerDutySim],
) -> None:
    sim = make_sim(Account.generate(seed=3, users=250, teams=0, services=0))
    users = client_for(sim).list_users()
    assert len(users) == len({u["id"] for u in users}) == 250
    queries = [q for _, path, q in sim.requests if path == "/users"]
    assert len(queries) == 3
    assert all("limit=100" in q for q in queries)
    assert "total=true" in queries[0]


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """Lower the 10,000 offset cap in client and simulator alike to test splitting quickly."""
    monkeypatch.setattr(listings, "OFFSET_CAP", 500)
    monkeypatch.setattr(sim_server, "OFFSET_CAP", 500)
    monkeypatch.setattr(listings, "FILTER_CHUNK", 10)
    return 500


def test_simulator_refuses_offsets_past_the_cap(sim: PagerDutySim) -> None:
    import requests

    response = requests.get(
        f"{sim.url}/users",
        params={"offset": 9950, "limit": 100},
        headers={"Authorization": f"Token token={API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 400
    assert "Offset" in response.json()["error"]["errors"][0]


def test_users_past_the_cap_are_reached_through_team_and_query_filters(
    make_sim: Callable[..., PagerDutySim], small_cap: int
) -> None:
    account = Account.generate(seed=5, users=1500, teams=60, services=0)
    sim = make_sim(account)
    client = client_for(sim)
    team_ids = [t["id"] for t in client.list_teams()]
    users = client.list_users(team_ids)
    assert sorted(u["id"] for u in users) == sorted(account.users)
    queries = [q for _, path, q in sim.requests if path == "/users"]
    assert any("team_ids" in q for q in queries)
    assert any("query=" in q for q in queries)  # users in no team need the query cover


def test_services_past_the_cap_are_reached(
    make_sim: Callable[..., PagerDutySim], small_cap: int
) -> None:
    account = Account.generate(seed=6, users=30, teams=40, services=1200)
    sim = make_sim(account)
    client = client_for(sim)
    services = client.list_services([t["id"] for t in client.list_teams()])
    assert sorted(s["id"] for s in services) == sorted(account.services)


def test_oncalls_past_the_cap_are_split_by_escalation_policy(
    make_sim: Callable[..., PagerDutySim], small_cap: int
) -> None:
    account = Account.generate(seed=8, users=400, teams=5, services=900)
    expected = account.oncalls_now()
    assert len(expected) > small_cap
    sim = make_sim(account)
    oncalls = client_for(sim).list_oncalls(sorted(account.policies))
    # identical entries (one schedule targeted twice on a level) collapse into one
    identity = listings.oncall_identity
    assert len(oncalls) == len(set(map(identity, oncalls)))
    assert set(map(identity, oncalls)) == set(map(identity, expected))
    assert any("escalation_policy_ids" in q for _, p, q in sim.requests if p == "/oncalls")


def test_unreachable_objects_fail_the_listing_loudly(
    make_sim: Callable[..., PagerDutySim], small_cap: int
) -> None:
    account = Account.generate(seed=5, users=800, teams=20, services=0)
    sim = make_sim(account)
    sim.filters_work = False  # every filtered listing comes back empty
    client = client_for(sim)
    with pytest.raises(IncompleteListingError, match=r"reached \d+ of 800"):
        client.list_users(sorted(account.teams))


def test_a_success_that_is_not_json_is_a_clear_error(sim: PagerDutySim) -> None:
    sim.inject("/abilities", 200, body="<html>proxy login</html>")
    with pytest.raises(PagerDutyError, match="not JSON"):
        client_for(sim).abilities()


def test_malformed_base_url_is_a_clear_error() -> None:
    with pytest.raises(PagerDutyError, match=r"InvalidURL|MissingSchema|InvalidSchema"):
        PagerDutyClient(API_KEY, "http://", retry=FAST_RETRY).abilities()
