"""PagerDuty's audit records kept in the change history as recorded (`source: pagerduty`):
the entry made of a record, each record once in either sink, and the filters that find
them (`--source`, `--actor`; an unknown `--type` or `--source` is a usage error)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from common.clients.jupiterone import JupiterOneClient
from common.graph import Cause, ChangeSet, Entity
from common.sinks import GraphSink
from common.sinks.history import Query, audit_entry, iso, text_line
from common.sinks.jupiterone import JupiterOneSink
from common.sinks.local import LocalSink
from tests.cli import run_pdgraph

# whole seconds plus 250 ms, an hour ago: within CHANGE_HISTORY_DAYS on any date
AN_HOUR_AGO = int(time.time()) - 3600 + 0.25
ADA = {"id": "PADA001", "type": "user_reference", "summary": "Ada Lovelace"}
KEY = {"id": "PKEY001", "type": "api_key_reference", "summary": "terraform"}


def record(n: int, actor: dict[str, Any], method: dict[str, Any], **details: Any) -> dict[str, Any]:
    """An audit record as `GET /audit/records` serves it (PagerDuty's example's shape)."""
    return {
        "id": f"PAR{n:07d}",
        "execution_time": iso(AN_HOUR_AGO + n),
        "execution_context": {"request_id": uuid.uuid4().hex},
        "actors": [actor],
        "method": method,
        "root_resource": {"id": "PU00001", "type": "user_reference", "summary": "Zoë Novák"},
        "action": "update",
        "details": {"resource": {"id": "PU00001", "type": "user_reference"}, **details},
    }


GRANT = record(
    1,
    ADA,
    {"type": "browser", "truncated_token": None},
    fields=[{"name": "role", "before_value": "user", "value": "admin"}],
)
REVOKE = record(
    2,
    KEY,
    {"type": "api_token", "truncated_token": "+Yx3"},
    fields=[{"name": "role", "before_value": "admin", "value": "user"}],
    references=[
        {"name": "teams", "removed": [{"id": "PT1", "type": "team_reference", "summary": "Ops"}]}
    ],
)


def entries_of(*records: dict[str, Any]) -> list[dict[str, Any]]:
    return [audit_entry(r, "user:PU00001", "pagerduty_user") for r in records]


def test_an_entry_keeps_the_record_as_pagerduty_wrote_it() -> None:
    grant, revoke = entries_of(GRANT, REVOKE)
    assert grant == {
        "at": iso(AN_HOUR_AGO + 1),
        "source": "pagerduty",
        "key": "user:PU00001",
        "type": "pagerduty_user",
        "action": "updated",
        "changes": {"role": {"before": "user", "after": "admin"}},
        "cause": {"kind": "audit", "id": "PAR0000001"},
        "actor": {"type": "user", "id": "PADA001", "name": "Ada Lovelace"},
        "method": {"type": "browser", "truncatedToken": None},
    }
    assert revoke["changes"]["teams"] == {"added": [], "removed": [REVOKE_TEAM]}
    assert revoke["actor"] == {"type": "api_key", "id": "PKEY001", "name": "terraform"}
    assert revoke["method"] == {"type": "api_token", "truncatedToken": "+Yx3"}


REVOKE_TEAM = {"id": "PT1", "type": "team_reference", "summary": "Ops"}


def test_a_text_line_names_who_and_how() -> None:
    _, revoke = entries_of(GRANT, REVOKE)
    assert text_line(revoke) == (
        f"{iso(AN_HOUR_AGO + 2)} pagerduty updated user:PU00001 (pagerduty_user)"
        ' role: "admin" → "user"; teams: -[Ops] by terraform (api_key PKEY001) via api_token'
        " cause audit:PAR0000002"
    )


def test_a_record_without_actor_or_method_names_nobody() -> None:
    bare = {k: v for k, v in GRANT.items() if k not in ("actors", "method")}
    [entry] = entries_of(bare)
    assert entry["actor"] is None and entry["method"] is None


@pytest.fixture(params=["local", "jupiterone"])
def sink(
    request: pytest.FixtureRequest, tmp_path: Path, redis_client: redis.Redis
) -> Iterator[GraphSink]:
    if request.param == "local":
        made: GraphSink = LocalSink(str(tmp_path / "graph.sqlite3"))
    else:  # nothing here talks to JupiterOne: the history is the sink's Redis record, and
        # entity writes wait in the write-behind buffer (recorded when it accepts them)
        client = JupiterOneClient("acct", "k" * 20, "http://127.0.0.1:9", "http://127.0.0.1:9")
        scope = f"trail-{uuid.uuid4().hex}"
        made = JupiterOneSink(client, redis_client, scope, schedule_flush=lambda _k, _d: None)
    yield made
    made.close()


def every(sink: GraphSink, **query: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        page, cursor = sink.changes(Query(**query), cursor=cursor, limit=1)
        entries += page
        if cursor is None:
            return entries


def test_each_record_is_kept_once_however_often_a_poll_reads_it(sink: GraphSink) -> None:
    assert sink.record_trail(entries_of(GRANT)) == 1
    assert sink.record_trail(entries_of(GRANT, REVOKE)) == 1  # the overlap read GRANT again
    assert sink.record_trail(entries_of(GRANT, REVOKE)) == 0
    assert [e["cause"]["id"] for e in every(sink)] == ["PAR0000001", "PAR0000002"]


def test_source_and_actor_filters_find_the_audit_trail_and_who_did_what(sink: GraphSink) -> None:
    properties = {"name": "Zoë Novák", "displayName": "Zoë Novák"}
    admin = Entity(key="user:PU00001", type="pagerduty_user", class_="User", properties=properties)
    cause = Cause("audit", "PAR0000001", {"type": "user", "id": "PADA001", "name": "Ada"})
    sink.apply(ChangeSet(create_entities=[admin]), cause)
    sink.record_trail(entries_of(GRANT, REVOKE))
    graph = every(sink, source="graph")
    assert [(e["source"], e["actor"]["id"]) for e in graph] == [("graph", "PADA001")]
    assert [e["cause"]["id"] for e in every(sink, source="pagerduty")] == [
        "PAR0000001",
        "PAR0000002",
    ]
    by_ada = every(sink, actor="PADA001")
    assert sorted(e["source"] for e in by_ada) == ["graph", "pagerduty"]
    assert [e["cause"]["id"] for e in every(sink, actor="PKEY001")] == ["PAR0000002"]
    assert every(sink, actor="PNOBODY") == []


@pytest.fixture
def trail_graph(graph_path: str) -> str:
    sink = LocalSink(graph_path)
    sink.record_trail(entries_of(GRANT, REVOKE))
    sink.close()
    return graph_path


def test_the_cli_filters_by_source_and_actor(trail_graph: str) -> None:
    env = {"LOCAL_GRAPH_PATH": trail_graph}
    result = run_pdgraph(
        "changes", "--json", "--source", "pagerduty", "--actor", "PKEY001", env=env
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert json.loads(line)["cause"]["id"] == "PAR0000002"
    text = run_pdgraph("changes", "--actor", "PADA001", env=env)
    assert "by Ada Lovelace (user PADA001) via browser" in text.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--type", "nosuchtype"), "--type: type 'nosuchtype' is not one pdgraph writes"),
        (("--source", "jira"), "'jira' is not one of"),
    ],
)
def test_an_unknown_type_or_source_is_a_usage_error(
    trail_graph: str, args: tuple[str, ...], said: str
) -> None:
    result = run_pdgraph("changes", *args, env={"LOCAL_GRAPH_PATH": trail_graph})
    assert result.returncode == 2
    assert said in result.stderr and result.stdout == ""
