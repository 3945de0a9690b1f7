"""A report's provenance, as Redis and the settings hold it (common/report/inputs.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from common.config import Settings
from common.report.inputs import report_provenance
from common.state.freshness import record_run, write_mode
from common.state.full_sync import begin_full_sync, record_full_sync
from common.state.keys import FULL_SYNC_LOCK, LAST_WEBHOOK

SYNCED = 1_903_687_200.0  # 2030-04-29T10:00:00Z


def test_nothing_recorded_yet_is_null_not_invented(
    redis_client: redis.Redis, make_settings: Callable[..., Settings]
) -> None:
    assert report_provenance(redis_client, make_settings()) == {
        "graph_as_of": None,
        "last_full_sync": None,
        "people_feed": {"mode": None, "lag_seconds": None},
        "last_webhook_at": None,
        "sink": "local",
        "graph_model": "seed",
    }


def test_the_graph_is_as_of_the_last_good_sync_whatever_the_attempts_since(
    redis_client: redis.Redis, make_settings: Callable[..., Settings]
) -> None:
    record_full_sync(
        redis_client, {"id": "a", "outcome": "ok", "started_at": SYNCED, "duration_s": 42.0}
    )
    record_full_sync(
        redis_client,
        {"id": "b", "outcome": "failed", "started_at": SYNCED + 86400, "duration_s": 5.0},
    )
    provenance = report_provenance(redis_client, make_settings(graph_model="jupiterone"))
    assert provenance["graph_as_of"] == "2030-04-29T10:00:42Z"
    assert provenance["last_full_sync"] == {"at": "2030-04-30T10:00:05Z", "outcome": "failed"}
    assert provenance["graph_model"] == "jupiterone"
    # a run under way: its start; one whose lock lapsed: abandoned
    redis_client.set(FULL_SYNC_LOCK, "held")
    begin_full_sync(
        redis_client, {"id": "c", "outcome": "running", "started_at": SYNCED + 2 * 86400}
    )
    running = report_provenance(redis_client, make_settings())["last_full_sync"]
    assert running == {"at": "2030-05-01T10:00:00Z", "outcome": "running"}
    redis_client.delete(FULL_SYNC_LOCK)
    abandoned = report_provenance(redis_client, make_settings())["last_full_sync"]
    assert abandoned["outcome"] == "abandoned"


def test_the_people_feed_s_mode_and_lag_and_the_last_webhook(
    redis_client: redis.Redis, make_settings: Callable[..., Settings]
) -> None:
    write_mode(redis_client, "audit", None, SYNCED)
    record_run(redis_client, "audit", {"lag_s": 3.5, "finished_at": SYNCED})
    redis_client.set(LAST_WEBHOOK, json.dumps({"event_id": "01X", "received_at": SYNCED + 1}))
    provenance = report_provenance(redis_client, make_settings())
    assert provenance["people_feed"] == {"mode": "audit", "lag_seconds": 3.5}
    assert provenance["last_webhook_at"] == "2030-04-29T10:00:01Z"
    write_mode(redis_client, "refresh", "PagerDuty answered 402", SYNCED)
    record_run(redis_client, "refresh", {"finished_at": SYNCED})
    later = datetime.fromtimestamp(SYNCED + 600, UTC)
    feed = report_provenance(redis_client, make_settings(), later)["people_feed"]
    assert feed == {"mode": "light_refresh", "lag_seconds": 600.0}
