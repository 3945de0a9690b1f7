"""`pdgraph changes`: the change history on the command line, as an operator runs it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from common.graph import Cause, ChangeSet, Entity, Graph
from common.sinks.local import LocalSink
from sim.pagerduty import Account
from tests.cli import one_line_failure, run_pdgraph, said
from tests.stack import Stack
from worker import jobs

SPEC_FIELDS = {"at", "source", "key", "type", "action", "changes", "cause", "actor", "method"}


def team(n: int, name: str) -> Entity:
    return Entity(
        key=f"team:PT{n:06d}",
        type="pagerduty_team",
        class_="Team",
        properties={"name": name, "displayName": name},
    )


@pytest.fixture
def history_graph(graph_path: str) -> str:
    """Two teams created by the audit feed, one renamed by a full sync."""
    sink = LocalSink(graph_path)
    sink.apply(ChangeSet(create_entities=[team(1, "Ops"), team(2, "Web")]), Cause("audit", "R1"))
    sink.replace_all(Graph.of([team(1, "Ops ✨"), team(2, "Web")], []), Cause("full_sync", "run-9"))
    sink.close()
    return graph_path


def test_text_lines_show_each_change_oldest_first(history_graph: str) -> None:
    result = run_pdgraph("changes", env={"LOCAL_GRAPH_PATH": history_graph})
    assert result.returncode == 0, result.stderr
    lines = said(result.stdout)
    assert len(lines) == 3
    at, rest = lines[2].split(" ", 1)
    assert datetime.fromisoformat(at.replace("Z", "+00:00")).tzinfo == UTC
    assert rest == (
        'updated team:PT000001 (pagerduty_team) displayName: "Ops" → "Ops ✨"; '
        'name: "Ops" → "Ops ✨" cause full_sync:run-9'
    )
    assert lines[0].split(" ", 1)[1].startswith("created team:PT000001 (pagerduty_team) _class:")
    assert lines[0].endswith("cause audit:R1")


def test_json_lines_have_exactly_the_specs_shape_and_filters_apply(history_graph: str) -> None:
    env = {"LOCAL_GRAPH_PATH": history_graph}
    result = run_pdgraph("changes", "--json", "--key", "team:PT000001", env=env)
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(e) for e in entries] == [SPEC_FIELDS, SPEC_FIELDS]
    assert [(e["action"], e["cause"]) for e in entries] == [
        ("created", {"kind": "audit", "id": "R1"}),
        ("updated", {"kind": "full_sync", "id": "run-9"}),
    ]
    assert entries[1]["changes"]["name"] == {"before": "Ops", "after": "Ops ✨"}
    only_type = run_pdgraph("changes", "--json", "--type", "pagerduty_user", env=env)
    assert only_type.returncode == 0 and only_type.stdout == ""
    recent = run_pdgraph("changes", "--since", "1h", "--json", env=env)
    assert len(recent.stdout.splitlines()) == 3
    future = datetime.fromtimestamp(time.time() + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run_pdgraph("changes", "--since", future, env=env).stdout == ""


def test_a_bad_since_is_a_usage_error_in_one_line(history_graph: str) -> None:
    result = run_pdgraph(
        "changes", "--since", "last tuesday", env={"LOCAL_GRAPH_PATH": history_graph}
    )
    line = one_line_failure(result, 2)
    assert line.startswith("pdgraph: --since: since 'last tuesday' is neither an ISO-8601 time")


def test_every_page_is_followed(graph_path: str) -> None:
    sink = LocalSink(graph_path)
    sink.apply(ChangeSet(create_entities=[team(n, f"team {n}") for n in range(2500)]))
    sink.close()
    result = run_pdgraph("changes", "--json", env={"LOCAL_GRAPH_PATH": graph_path})
    keys = [json.loads(line)["key"] for line in result.stdout.splitlines()]
    assert keys == [f"team:PT{n:06d}" for n in range(2500)]  # once each, oldest first


def test_who_was_on_call_for_a_service_at_a_time_is_answered_by_its_oncall_edges(
    make_stack: Callable[..., Stack], redis_url: str, graph_path: str
) -> None:
    stack = make_stack(Account.generate(seed=3, users=60), receiver=False)
    account = stack.sim.account
    service_id = sorted(account.services)[0]
    policy_id = account.services[service_id]["escalation_policy_id"]
    before = {
        r["_key"]
        for r in stack.export()["relationships"]
        if r["_toEntityKey"] == f"service:{service_id}"
    }
    old_edge = sorted(k for k in before if "|oncall|" in k)[0]
    new_user = next(
        u for u in sorted(account.users) if f"user:{u}|oncall|service:{service_id}" not in before
    )
    synced = time.time()
    account.rotate_oncall(policy_id, new_user)
    jobs.refresh_all_oncalls()
    env = {"LOCAL_GRAPH_PATH": graph_path, "REDIS_URL": redis_url}

    def edge_history(key: str) -> list[dict[str, object]]:
        result = run_pdgraph("changes", "--key", key, "--json", env=env)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    old = edge_history(old_edge)
    assert [(e["action"], e["cause"]["kind"]) for e in old] == [  # type: ignore[index]
        ("created", "full_sync"),
        ("deleted", "oncall"),
    ]
    # On call from its creation to its deletion: so at the time of the sync, not after.
    created, deleted = (datetime.fromisoformat(str(e["at"]).replace("Z", "+00:00")) for e in old)
    assert created.timestamp() <= synced <= deleted.timestamp()
    assert old[1]["changes"]["escalationLevel"]["after"] is None  # type: ignore[index]
    new = edge_history(f"user:{new_user}|oncall|service:{service_id}")
    assert [(e["action"], e["cause"]["kind"]) for e in new] == [("created", "oncall")]  # type: ignore[index]
