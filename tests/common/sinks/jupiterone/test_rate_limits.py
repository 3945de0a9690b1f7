"""JupiterOne's documented rate limits: pdgraph budgets GraphQL tokens and J1QL queries
(shared through Redis) so it waits before a 429, and the simulator enforces the limits."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import redis
import requests

from common.clients.jupiterone import (
    QUERY_V1,
    JupiterOneBudgets,
    JupiterOneClient,
    JupiterOneLimits,
    j1ql_string,
)
from common.clients.jupiterone.budget import graphql_charge
from common.clients.ratelimit import RedisRequestBudget
from common.state import keys
from sim.jupiterone import JupiterOneSim
from sim.jupiterone.ratelimits import GraphQLLimits
from tests.common.sinks.jupiterone.helpers import J1_ACCOUNT, J1_KEY, j1_client

FIND_ONE = "FIND * WITH _scope = 'pagerduty' LIMIT 1"
HEADERS = {"Authorization": f"Bearer {J1_KEY}", "JupiterOne-Account": J1_ACCOUNT}


def limited(j1: JupiterOneSim, tokens: int, seconds: float, j1ql: int = 1000) -> JupiterOneLimits:
    """Small limits, the same in the simulator and in pdgraph's budget."""
    limits = JupiterOneLimits(graphql=((tokens, seconds),), j1ql=(j1ql, seconds))
    j1.set_graphql_limits(limits.graphql, limits.j1ql)
    return limits


def shared_client(
    j1: JupiterOneSim, connection: redis.Redis, limits: JupiterOneLimits
) -> JupiterOneClient:
    return j1_client(j1, budgets=JupiterOneBudgets.shared(connection, J1_ACCOUNT, limits))


def mutations(n: int, prefix: str = "x") -> bytes:
    """An aliased request of `n` deleteRelationship mutations (of ids that do not exist),
    shaped as pdgraph sends them."""
    declarations = ", ".join(f"$m{i}_id: String!" for i in range(n))
    fields = "\n".join(
        f"  m{i}: deleteRelationship(relationshipId: $m{i}_id) {{ relationship {{ _id }} }}"
        for i in range(n)
    )
    document = f"mutation PdgraphChanges({declarations}) {{\n{fields}\n}}"
    variables = {f"m{i}_id": f"{prefix}{i}" for i in range(n)}
    return json.dumps({"query": document, "variables": variables}).encode()


def raw_graphql(j1: JupiterOneSim, body: dict[str, Any]) -> requests.Response:
    """A request from another consumer of the account (no pdgraph budget)."""
    return requests.post(j1.graphql_url, json=body, headers=HEADERS, timeout=5)


def window_size(connection: redis.Redis) -> int:
    key = keys.ratelimit(keys.jupiterone_budget(J1_ACCOUNT, "graphql"), "window")
    return int(connection.zcard(key))


# -- what a request costs --------------------------------------------------------------


def test_a_request_costs_a_token_per_query_or_mutation() -> None:
    assert graphql_charge(mutations(7)) == (7, 0)
    assert graphql_charge(mutations(1)) == (1, 0)
    body = json.dumps({"query": QUERY_V1, "variables": {}}).encode()
    assert graphql_charge(body) == (1, 1)  # and one J1QL query
    assert graphql_charge(b"not json") == (1, 0)


# -- the client against the simulator --------------------------------------------------


def burst(client: JupiterOneClient, threads: int, each: int) -> None:
    """`threads` threads sending `each` J1QL queries at once."""
    running = [
        threading.Thread(target=lambda: [client.query(FIND_ONE) for _ in range(each)])
        for _ in range(threads)
    ]
    for t in running:
        t.start()
    for t in running:
        t.join(30)


def test_the_client_spreads_a_burst_over_the_window_without_a_429(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    limits = limited(j1, tokens=5, seconds=1.0)
    client = shared_client(j1, redis_client, limits)
    started = time.monotonic()
    burst(client, threads=3, each=5)
    assert j1.refused == Counter() and client.rate_limited == 0
    assert j1.charged["graphql"] == 15
    assert time.monotonic() - started > 1.5  # waited for the window twice, not for a 429


def test_two_clients_sharing_redis_share_the_budget(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    limits = limited(j1, tokens=6, seconds=1.0)
    clients = [shared_client(j1, redis_client, limits) for _ in range(2)]
    threads = [threading.Thread(target=burst, args=(c, 2, 5)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert j1.refused == Counter()
    assert sum(c.rate_limited for c in clients) == 0
    assert j1.charged["graphql"] == 20


def test_the_j1ql_limit_is_budgeted_apart_from_graphql_tokens(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    limits = limited(j1, tokens=100, seconds=1.0, j1ql=3)
    client = shared_client(j1, redis_client, limits)
    for _ in range(7):
        client.query(FIND_ONE)
    assert j1.refused == Counter() and client.rate_limited == 0
    assert j1.charged["j1ql"] == 7


def test_an_aliased_request_of_n_mutations_is_charged_n(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    limits = limited(j1, tokens=5, seconds=1.0)
    client = shared_client(j1, redis_client, limits)
    client.request("POST", client.graphql_url, mutations(4), "mutations")
    assert window_size(redis_client) == 4
    assert client.rate_limit_headers["RateLimit-Requested"] == "4"
    assert client.rate_limit_headers["RateLimit-Remaining"] == "1"
    client.request("POST", client.graphql_url, mutations(4, "y"), "mutations")  # waits
    assert j1.refused == Counter() and client.rate_limited == 0
    assert j1.charged["graphql"] == 8


def test_remaining_below_the_budget_takes_the_difference_from_it(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    """Another consumer of the account spent tokens: the headers tell the shared budget."""
    limits = limited(j1, tokens=10, seconds=60.0)
    for _ in range(3):
        assert raw_graphql(j1, {"query": QUERY_V1, "variables": {"query": FIND_ONE}}).ok
    client = shared_client(j1, redis_client, limits)
    client.query(FIND_ONE)
    assert client.rate_limit_headers["RateLimit-Remaining"] == "6"
    assert window_size(redis_client) == 4  # its own token and the 3 spent elsewhere


def test_a_429_is_honoured_until_reset_and_nothing_is_lost(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    limits = limited(j1, tokens=3, seconds=2.0)
    client = shared_client(j1, redis_client, limits)
    job = client.start_job("pagerduty", "PATCH")
    client.upload(
        job,
        "entities",
        [
            {
                "_key": f"service:PLIMIT{n}",
                "_type": "pagerduty_service",
                "_class": "Service",
                "name": f"s{n}",
                "displayName": f"s{n}",
            }
            for n in range(2)
        ],
    )
    client.finalize(job)
    client.wait_for_job(job)
    rows = client.query("FIND * WITH _scope = 'pagerduty'")
    ids = {row["entity"]["_key"]: row["entity"]["_id"] for row in rows}
    for _ in range(3):  # another consumer empties the account's bucket
        raw_graphql(j1, {"query": QUERY_V1, "variables": {"query": FIND_ONE}})
    refused_before = j1.refused["graphql"]
    started = time.monotonic()
    data = client.graphql(
        "mutation M($key: String!, $type: String!, $class: String!, $from: String!, "
        "$to: String!) {\n  m0: createRelationship(relationshipKey: $key, "
        "relationshipType: $type, relationshipClass: $class, fromEntityId: $from, "
        "toEntityId: $to) { relationship { _id } }\n}",
        {
            "key": "service:PLIMIT0|uses|service:PLIMIT1",
            "type": "pagerduty_service_uses_service",
            "class": "USES",
            "from": ids["service:PLIMIT0"],
            "to": ids["service:PLIMIT1"],
        },
        "mutations",
    )
    assert client.rate_limited == 1 and j1.refused["graphql"] == refused_before + 1
    assert time.monotonic() - started >= 1.0  # RateLimit-Reset: every bucket full again
    assert data["m0"]["relationship"]["_id"]
    edges = j1.graph().relationships
    assert list(edges) == ["service:PLIMIT0|uses|service:PLIMIT1"]
    where = f"FIND * WITH _scope = {j1ql_string('pagerduty')} LIMIT 5"
    assert len(client.query(where)) == 2


# -- the simulator's enforcement -------------------------------------------------------


def test_the_simulator_charges_tokens_and_answers_429_with_the_headers(
    j1: JupiterOneSim,
) -> None:
    j1.set_graphql_limits([(3, 30.0)], None)
    one = {"query": QUERY_V1, "variables": {"query": FIND_ONE}}
    answers = [raw_graphql(j1, one) for _ in range(3)]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert all(a.headers["RateLimit-Requested"] == "1" for a in answers)
    assert answers[0].headers["RateLimit-Limit"] == "3, 3; window=30"
    refused = raw_graphql(j1, one)
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["RateLimit-Reset"]) <= 30
    assert j1.refused["graphql"] == 1 and j1.charged["graphql"] == 3


def test_the_simulator_counts_aliased_mutations_and_charges_nothing_for_a_429(
    j1: JupiterOneSim,
) -> None:
    j1.set_graphql_limits([(5, 60.0)], None)
    headers = {**HEADERS, "Content-Type": "application/json"}
    post = lambda body: requests.post(j1.graphql_url, data=body, headers=headers, timeout=5)  # noqa: E731
    assert post(mutations(4)).headers["RateLimit-Requested"] == "4"
    refused = post(mutations(2))
    assert refused.status_code == 429 and refused.headers["RateLimit-Requested"] == "2"
    assert post(mutations(1)).status_code == 200  # the 429 took none of the last token


def test_the_simulator_limits_j1ql_queries_apart(j1: JupiterOneSim) -> None:
    j1.set_graphql_limits(None, (2, 60.0))
    one = {"query": QUERY_V1, "variables": {"query": FIND_ONE}}
    codes = [raw_graphql(j1, one).status_code for _ in range(3)]
    assert codes == [200, 200, 429] and j1.refused["j1ql"] == 1
    assert requests.post(
        j1.graphql_url, data=mutations(1), headers=HEADERS, timeout=5
    ).ok  # mutations are not J1QL


def test_the_simulators_buckets_refill_steadily() -> None:
    now = [0.0]
    limits = GraphQLLimits([(4, 2.0)], None, clock=lambda: now[0])
    query = "mutation { m0: deleteRelationship(relationshipId: $a) { r } }"
    assert [limits.charge(query)[0] for _ in range(5)] == [None] * 4 + ["graphql"]
    now[0] = 0.5  # one token back (4 per 2 s)
    refused_by, headers, _, _ = limits.charge(query)
    assert refused_by is None and headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Reset"] == "2"  # until every token is back


def test_redis_budget_takes_n_tokens_from_every_window(redis_client: redis.Redis) -> None:
    slept: list[float] = []
    budget = RedisRequestBudget(
        redis_client, "t", limit=10, window_seconds=60, extra_windows=[(4, 0.3)], sleep=slept.append
    )
    budget.acquire(3)
    assert slept == []
    budget.acquire(2)  # 5 > 4 in the short window: waits for it
    assert slept and 0 < slept[0] <= 0.3
