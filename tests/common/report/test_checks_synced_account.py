"""The report of a synced account: defects planted in a simulated PagerDuty account, a full
sync to the local sink, `pdgraph report --format json` lists each one and nothing else."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from sim.pagerduty import Account, EscalationPolicy, PagerDutySim, Schedule
from tests.cli import run_pdgraph
from tests.conftest import API_KEY

DAY = 86_400
GHOST = "PUGHOST99"  # a rotation slot whose user is gone: nobody is on call in its shift


def _policy(account: Account, name: str, *levels: list[tuple[str, str]]) -> str:
    pid = account.new_id("E")
    account.policies[pid] = EscalationPolicy(pid, name, list(levels))
    return pid


def _schedule(account: Account, name: str, rotation: list[str], epoch: float) -> str:
    sid = account.new_id("S")
    account.schedules[sid] = Schedule(sid, name, rotation, DAY, epoch)
    return sid


def defective_account(now: float) -> tuple[Account, dict[str, str]]:
    """Four defects, nothing else to find: no admin, no disabled service, every other
    service on call at each of its two levels, every other on-call user in a team."""
    account = Account()
    team = account.add_team("Payments")
    ada, bo, cy = (
        account.add_user(name, f"{name.lower()}@example.com", team_ids=[team])
        for name in ("Ada", "Bo", "Cy")
    )
    loner = account.add_user("Dee", "dee@example.com")  # on call, in no team
    steady = _schedule(account, "Steady", [ada, bo], now - DAY / 2)
    # Bo's shift holds now; the next one (in 12 h, for a day) is the gone user's: a gap.
    gappy = _schedule(account, "Gappy", [bo, GHOST, bo, bo, bo, bo, bo, bo], now - DAY / 2)
    two = _policy(account, "Two levels", [("schedule", steady)], [("user", cy)])
    gapped = _policy(account, "Gapped", [("schedule", gappy)], [("user", cy)])
    single = _policy(account, "One level", [("user", loner)])
    lost = _policy(account, "Unreadable", [("user", ada)])
    ids = {
        "covered": account.add_service("covered", escalation_policy_id=two, team_ids=[team]),
        "gapped": account.add_service("gapped", escalation_policy_id=gapped, team_ids=[team]),
        "single": account.add_service("single", escalation_policy_id=single),
        "nopolicy": account.add_service("nopolicy", escalation_policy_id=lost),
        "single_policy": single,
        "gappy": gappy,
        "steady": steady,
        "loner": loner,
    }
    del account.policies[lost]  # the service names a policy the API does not show
    account.changed()
    return account, ids


def test_a_synced_account_reports_each_planted_defect_and_nothing_else(
    make_sim: Callable[..., PagerDutySim], redis_url: str, tmp_path: Path
) -> None:
    now = time.time()
    account, ids = defective_account(now)
    sim = make_sim(account)
    env = {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": str(tmp_path / "graph.sqlite3"),
    }
    synced = run_pdgraph("sync", env=env)
    assert synced.returncode == 0, synced.stderr
    result = run_pdgraph("report", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    assert [(f["check"], f["severity"], f["keys"]) for f in report["findings"]] == [
        ("service_without_escalation_policy", "high", [f"service:{ids['nopolicy']}"]),
        ("single_level_escalation_policy", "medium", [f"escalation_policy:{ids['single_policy']}"]),
        ("schedule_coverage_gap", "high", [f"schedule:{ids['gappy']}"]),
        ("oncall_user_without_team", "low", [f"user:{ids['loner']}"]),
    ]
    [gap] = report["findings"][2]["details"]["gaps"]
    assert gap["minutes"] == 1440
    assert abs(gap["startOn"] / 1000 - (now + DAY / 2)) < 1
    summary = report["summary"]
    assert (summary["services"], summary["activeServices"], summary["policies"]) == (4, 4, 3)
    assert (summary["users"], summary["teams"], summary["schedules"]) == (4, 1, 2)
    assert summary["coveredServicesPct"] == 50.0  # covered and gapped: two levels, on call now

    # who is on call, named, and how: Ada by the Steady schedule, Cy assigned directly
    covered = next(r for r in report["roster"] if r["key"] == f"service:{ids['covered']}")
    assert covered["escalationPolicy"] == "Two levels"
    assert [
        (lv["level"], [(p["name"], p["email"], p["via"], p["assignment"]) for p in lv["oncall"]])
        for lv in covered["levels"]
    ] == [
        (1, [("Ada", "ada@example.com", f"schedule:{ids['steady']}", "schedule")]),
        (2, [("Cy", "cy@example.com", None, "direct")]),
    ]
    provenance = report["provenance"]
    assert provenance["graph_as_of"] == provenance["last_full_sync"]["at"]
    assert provenance["warnings"] == []
