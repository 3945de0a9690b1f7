"""The compliance evidence report (SPEC §3 `pdgraph report`, §4 `GET /report`): pure.

A graph (what pdgraph holds, from either sink) and the time in, a report dict out; never
PagerDuty itself. Both graph models are read: objects are told apart by `_type`, never by
settings. What the report is as of (its provenance) and the period's evidence are read by
common/report/inputs.py and handed in; rendering is common/report/render.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from common.graph import Entity, Graph
from common.objects.business_service import BUSINESS_SERVICE
from common.objects.escalation_policy import ESCALATION_POLICY as POLICY
from common.objects.integration import SERVICE_INTEGRATION
from common.objects.schedule import SCHEDULE
from common.objects.service import SERVICE
from common.objects.team import TEAM
from common.objects.user import ADMIN_ROLES, USER
from common.objects.vendor import VENDOR
from common.report.model import (
    ReportGraph,
    email_of,
    finding,
    is_active,
    iso_seconds,
    name_of,
    oncall_levels,
)
from common.report.reach import (
    business_services_at_risk,
    services_in_maintenance,
    unreachable_oncall_users,
)
from common.report.roster import roster

GAP_HORIZON = timedelta(days=7)
URGENT_GAP = timedelta(hours=24)
STALE_GRAPH = timedelta(hours=24)  # a graph no full sync confirmed for longer says so

# check name → (title, what it proves), in report order.
CHECKS: dict[str, tuple[str, str]] = {
    "service_without_escalation_policy": (
        "Services without an escalation policy",
        "An incident on the service notifies nobody: no escalation policy the graph holds.",
    ),
    "service_level_without_oncall": (
        "Escalation levels with nobody on call",
        "An active service's escalation policy has a level at which nobody is on call now.",
    ),
    "single_level_escalation_policy": (
        "Escalation policies with a single level",
        "Nobody is escalated to when the first responder does not acknowledge.",
    ),
    "schedule_coverage_gap": (
        "On-call schedule gaps in the next 7 days",
        "A time in the next 7 days at which the schedule puts nobody on call.",
    ),
    "oncall_user_without_team": (
        "On-call users in no team",
        "A user on call now for a service who is in no team the API key can list.",
    ),
    "disabled_service": (
        "Disabled services",
        "A disabled service opens no incident for what it monitors.",
    ),
    "admin_user": (
        "Users with admin or owner role",
        "Who holds account-wide administrative rights (for access review).",
    ),
    "oncall_user_unreachable": (
        "On-call users PagerDuty cannot reach",
        "A user on call now for an active service has no high-urgency notification rule on"
        " a contact method: a page reaches nobody.",
    ),
    "business_service_at_risk": (
        "Business services depending on an unwatched service",
        "A business service depends, directly or through others, on a disabled service or"
        " one with nobody on call at level 1.",
    ),
    "service_in_maintenance": (
        "Services in maintenance",
        "A service in a maintenance window opens no incidents (medium past 7 days).",
    ),
}


def services_without_policy(model: ReportGraph) -> list[dict[str, Any]]:
    findings = []
    for service in model.of(SERVICE):
        if service.key in model.policy_of:
            continue
        named = service.properties.get("escalationPolicyId")
        why = (
            f"names escalation policy {named}, which the graph does not hold"
            if named
            else "names no escalation policy"
        )
        findings.append(
            finding(
                "service_without_escalation_policy",
                "high",
                [service.key],
                f"Service {name_of(service)} {why}.",
                service=name_of(service),
                escalationPolicyId=named,
            )
        )
    return findings


def levels_without_oncall(model: ReportGraph) -> list[dict[str, Any]]:
    findings = []
    for service in model.of(SERVICE):
        policy_key = model.policy_of.get(service.key)
        if not is_active(service) or policy_key is None:
            continue
        levels = model.levels(policy_key)
        covered = oncall_levels(model.oncall.get(service.key, []))
        missing = [level for level in range(1, levels + 1) if level not in covered]
        if not missing:
            continue
        policy = model.graph.entities[policy_key]
        findings.append(
            finding(
                "service_level_without_oncall",
                "high" if 1 in missing else "medium",
                [service.key, policy_key],
                f"Service {name_of(service)}: nobody is on call at level"
                f"{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of"
                f" escalation policy {name_of(policy)} ({levels} levels).",
                service=name_of(service),
                escalationPolicy=name_of(policy),
                levels=levels,
                levelsWithoutOncall=missing,
            )
        )
    return findings


def single_level_policies(model: ReportGraph) -> list[dict[str, Any]]:
    return [
        finding(
            "single_level_escalation_policy",
            "medium",
            [policy.key],
            f"Escalation policy {name_of(policy)} has a single level: nobody is escalated to.",
            escalationPolicy=name_of(policy),
            numLoops=policy.properties.get("numLoops"),
            services=model.services_using(policy.key),
        )
        for policy in model.of(POLICY)
        if model.levels(policy.key) == 1
    ]


def _gaps(schedule: Entity, now: datetime) -> list[dict[str, Any]]:
    """The schedule's gaps not over by `now` and starting within 7 days of it: start and
    minutes (None: only `nextGapStartOn` is known, not how long)."""
    now_ms, horizon_ms = now.timestamp() * 1000, (now + GAP_HORIZON).timestamp() * 1000
    starts = schedule.properties.get("coverageGapStarts")
    minutes = schedule.properties.get("coverageGapMinutes")
    if isinstance(starts, list):
        lengths = minutes if isinstance(minutes, list) else []
        spans = [(s, lengths[i] if i < len(lengths) else None) for i, s in enumerate(starts)]
    elif isinstance(next_gap := schedule.properties.get("nextGapStartOn"), int | float):
        spans = [(next_gap, None)]
    else:
        spans = []
    gaps = []
    for start, length in sorted(spans, key=lambda span: span[0]):
        end = None if length is None else start + length * 60_000
        if start >= horizon_ms or (end is not None and end <= now_ms):
            continue
        gaps.append({"start": iso_seconds(start / 1000), "startOn": start, "minutes": length})
    return gaps


def schedule_gaps(model: ReportGraph, now: datetime) -> list[dict[str, Any]]:
    findings = []
    urgent_ms = (now + URGENT_GAP).timestamp() * 1000
    for schedule in model.of(SCHEDULE):
        gaps = _gaps(schedule, now)
        if not gaps:
            continue
        first = gaps[0]
        length = f" for {first['minutes']:g} minutes" if first["minutes"] is not None else ""
        more = f" ({len(gaps)} gaps in all)" if len(gaps) > 1 else ""
        findings.append(
            finding(
                "schedule_coverage_gap",
                "high" if first["startOn"] < urgent_ms else "medium",
                [schedule.key],
                f"Schedule {name_of(schedule)} has nobody on call from {first['start']}{length}"
                f"{more}.",
                schedule=name_of(schedule),
                gaps=gaps,
                finalScheduleCoverage=schedule.properties.get("finalScheduleCoverage"),
                escalationPolicies=sorted(model.schedule_policies.get(schedule.key, ())),
            )
        )
    return findings


def oncall_users_without_team(model: ReportGraph) -> list[dict[str, Any]]:
    services_of: dict[str, set[str]] = {}
    for service_key, edges in model.oncall.items():
        for edge in edges:
            services_of.setdefault(edge.from_key, set()).add(service_key)
    findings = []
    for user in model.of(USER):
        if user.key not in services_of or user.key in model.users_in_team:
            continue
        services = sorted(services_of[user.key])
        findings.append(
            finding(
                "oncall_user_without_team",
                "low",
                [user.key],
                f"User {name_of(user)} is on call for {len(services)} service"
                f"{'s' if len(services) > 1 else ''} and is in no team.",
                user=name_of(user),
                email=email_of(user),
                services=services,
            )
        )
    return findings


def disabled_services(model: ReportGraph) -> list[dict[str, Any]]:
    return [
        finding(
            "disabled_service",
            "medium",
            [service.key],
            f"Service {name_of(service)} is disabled: it opens no incidents.",
            service=name_of(service),
            status=service.properties.get("status"),
        )
        for service in model.of(SERVICE)
        if not is_active(service)
    ]


def admin_users(model: ReportGraph) -> list[dict[str, Any]]:
    admins = [
        u
        for u in model.of(USER)
        if u.properties.get("admin") is True or u.properties.get("role") in ADMIN_ROLES
    ]
    if not admins:
        return []
    listed = [
        {"key": u.key, "name": name_of(u), "email": email_of(u), "role": u.properties.get("role")}
        for u in admins
    ]
    return [
        finding(
            "admin_user",
            "info",
            [u.key for u in admins],
            f"{len(admins)} user{'s' if len(admins) > 1 else ''} with the admin or owner role.",
            users=listed,
        )
    ]


# -- what the report is as of --------------------------------------------------------------


def _epoch(iso: Any) -> float | None:
    if not isinstance(iso, str):
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} hours"


def warnings(
    provenance: Mapping[str, Any], period: Mapping[str, Any] | None, now: datetime
) -> list[str]:
    """What the reader must know before trusting the report, in one sentence each."""
    out = []
    as_of = _epoch(provenance.get("graph_as_of"))
    if as_of is not None and now.timestamp() - as_of > STALE_GRAPH.total_seconds():
        last = provenance.get("last_full_sync") or {}
        attempt = (
            f" (the last attempt: {last.get('outcome')}, {last.get('at')})"
            if last.get("outcome") != "ok"
            else ""
        )
        out.append(
            f"The graph is as of {provenance['graph_as_of']}, "
            f"{_hours(now.timestamp() - as_of)} before this report: no full sync has "
            f"succeeded for more than 24 hours{attempt}. Webhooks and on-call refreshes kept "
            "it current since, but nothing has corrected what they missed."
        )
    if (provenance.get("people_feed") or {}).get("mode") == "light_refresh":
        out.append(
            "PagerDuty's audit-records feed is not available to this account or API key "
            "(402/403): users, teams, escalation policies and schedules are read by a light "
            "refresh every PEOPLE_REFRESH_MINUTES, so who made a change (its actor) cannot "
            "be known, and a change undone between two refreshes (an admin role granted "
            "then revoked) leaves no trace."
        )
    if period is not None:
        history_from = _epoch(period.get("historyFrom"))
        if history_from is None:
            out.append(
                "The change history holds no entries: nothing is known of the period "
                f"from {period['from']}; its level-1 coverage is not given."
            )
        elif history_from > (_epoch(period["from"]) or 0):
            out.append(
                f"The period asked for starts {period['from']}, but the change history "
                f"begins {period['historyFrom']} (CHANGE_HISTORY_DAYS, or when pdgraph "
                "began): level-1 coverage is measured from then, and changes before it are "
                "not listed."
            )
    return out


def _summary(model: ReportGraph) -> dict[str, Any]:
    active = [s for s in model.of(SERVICE) if is_active(s)]
    covered = [
        s
        for s in active
        if (policy := model.policy_of.get(s.key)) is not None
        and model.levels(policy) >= 2
        and model.oncall.get(s.key)
    ]
    return {
        "services": len(model.of(SERVICE)),
        "activeServices": len(active),
        "teams": len(model.of(TEAM)),
        "users": len(model.of(USER)),
        "policies": len(model.of(POLICY)),
        "schedules": len(model.of(SCHEDULE)),
        "businessServices": len(model.of(BUSINESS_SERVICE)),
        "integrations": len(model.of(SERVICE_INTEGRATION)),
        "vendors": len(model.of(VENDOR)),
        "coveredServices": len(covered),
        "coveredServicesPct": round(100 * len(covered) / len(active), 1) if active else None,
    }


def build_report(
    graph: Graph,
    now: datetime,
    account_name: str | None = None,
    *,
    provenance: Mapping[str, Any] | None = None,
    period: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report (SPEC §3's JSON shape): provenance (None: not given) with the warnings
    it calls for, summary, roster, findings in CHECKS order (each check's ordered by their
    keys), and the period's evidence (common.report.period; None: no period asked)."""
    model = ReportGraph.read(graph)
    findings = [
        *services_without_policy(model),
        *levels_without_oncall(model),
        *single_level_policies(model),
        *schedule_gaps(model, now),
        *oncall_users_without_team(model),
        *disabled_services(model),
        *admin_users(model),
        *unreachable_oncall_users(model),
        *business_services_at_risk(model),
        *services_in_maintenance(model, now),
    ]
    order = list(CHECKS)
    findings.sort(key=lambda f: (order.index(f["check"]), f["keys"]))
    if provenance is not None:
        provenance = {**provenance, "warnings": warnings(provenance, period, now)}
    return {
        "generated_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "account_name": account_name,
        "provenance": provenance,
        "summary": _summary(model),
        "roster": roster(model),
        "findings": findings,
        "period": dict(period) if period is not None else None,
    }


def findings_by_check(report: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every check (CHECKS order), with its findings (none: the check passed)."""
    grouped: dict[str, list[dict[str, Any]]] = {check: [] for check in CHECKS}
    for found in report["findings"]:
        grouped.setdefault(found["check"], []).append(found)
    return grouped
