"""A deterministic account from a seed: names in many scripts, teams, schedules, policies.

The random draws happen in a fixed order, so a seed always gives the same account (and
the same on-call rotation: shifts start from a fixed epoch).
"""

from __future__ import annotations

import random
import unicodedata
from typing import TYPE_CHECKING

from sim.pagerduty.escalation import EscalationPolicy, Schedule
from sim.pagerduty.objects import iso

if TYPE_CHECKING:
    from sim.pagerduty.account import Account

EPOCH = 1_700_000_000.0  # fixed: the same seed gives the same on-call rotation

FIRST_NAMES = [
    "Ada",
    "Zoë",
    "José",
    "Łukasz",
    "Søren",
    "Aoife",
    "Ольга",
    "Θεόδωρος",
    "美咲",
    "Nguyễn",
    "Chidi",
    "Priya",
    "Mateo",
    "Yusuf",
    "Ingrid",
    "Kwame",
    "Siobhán",
    "Dvořák",
    "Émile",
    "Noor",
]
LAST_NAMES = [
    "Lovelace",
    "Müller",
    "García",
    "Kowalski",
    "Ødegaard",
    "Ní Bhriain",
    "Иванова",
    "Παπαδόπουλος",
    "佐藤",
    "Trần",
    "Okafor",
    "Raman",
    "Fernández",
    "Yılmaz",
    "Håkansson",
    "Mensah",
    "O'Neill",
    "Novák",
    "Çelik",
    "Haddad",
]
TEAM_WORDS = [
    "Platform",
    "Payments",
    "Search",
    "Identity",
    "Data",
    "Edge",
    "Mobile",
    "Infra",
    "Billing",
    "Growth",
    "Security",
    "Núcleo",
    "Façade",
    "Ops",
]
SERVICE_WORDS = [
    "api",
    "worker",
    "db",
    "cache",
    "gateway",
    "frontend",
    "queue",
    "auth",
    "ledger",
    "index",
    "cron",
    "storage",
    "mailer",
    "résumé",
    "naïve",
]
ROLES = (
    ["user"] * 10
    + ["limited_user"] * 4
    + ["admin"] * 2
    + ["observer", "owner", "read_only_user", "restricted_access", "read_only_limited_user"]
)
STATUSES = ["active", "active", "active", "warning", "critical", "maintenance", "disabled"]
TIME_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum()) or "x"


def populate(
    account: Account,
    rng: random.Random,
    *,
    users: int,
    teams: int,
    services: int,
    shift_seconds: int,
) -> None:
    """Fill an empty account: teams, users (each with the contact method and notification
    rule PagerDuty gives a new user: Account.add_user), schedules, policies, then services."""
    _add_teams(account, rng, teams)
    _add_users(account, rng, users)
    n_schedules = max(1, users // 20) if users else 0
    _add_schedules(account, rng, n_schedules, shift_seconds)
    n_policies = max(1, services // 3) if services else 0
    _add_policies(account, rng, n_policies)
    _add_services(account, rng, services)
    _assign_teams(account)


def _assign_teams(account: Account) -> None:
    """Teams of policies and schedules, drawn from no random number (the seed's accounts
    stay as they were): every other policy belongs to a team; a schedule to its first
    user's first team."""
    team_ids = list(account.teams)
    for i, policy in enumerate(account.policies.values()):
        if team_ids and i % 2 == 0:
            policy.team_ids = [team_ids[i % len(team_ids)]]
    for schedule in account.schedules.values():
        first = account.users[schedule.rotation[0]]["team_ids"] if schedule.rotation else []
        schedule.team_ids = first[:1]


def _add_teams(account: Account, rng: random.Random, count: int) -> None:
    for i in range(count):
        name = f"{rng.choice(TEAM_WORDS)} {rng.choice(TEAM_WORDS)} {i}"
        account.add_team(name, description=rng.choice([None, f"The {name} team"]))


def _add_users(account: Account, rng: random.Random, count: int) -> None:
    team_ids = list(account.teams)
    for i in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        n_member = rng.choices([0, 1, 2, 3], weights=[25, 45, 20, 10])[0] if team_ids else 0
        account.add_user(
            f"{first} {last}",
            f"{_slug(first)}.{_slug(last)}.{i}@example.com",
            role=rng.choice(ROLES),
            team_ids=rng.sample(team_ids, min(n_member, len(team_ids))),
            job_title=rng.choice([None, "SRE", "Engineer", "Ingénieur", "Manager"]),
            time_zone=rng.choice(TIME_ZONES),
            billed=rng.random() < 0.9,
            invitation_sent=rng.random() < 0.1,
            description=rng.choice([None, "On call for the ✨ things"]),
        )


def _add_schedules(account: Account, rng: random.Random, count: int, shift_seconds: int) -> None:
    user_ids = list(account.users)
    for i in range(count):
        rotation = rng.sample(user_ids, min(len(user_ids), rng.randint(2, 6)))
        sid = account.new_id("S")
        account.schedules[sid] = Schedule(
            sid, f"Rotation {i}", rotation, shift_seconds, EPOCH - rng.randint(0, 3600)
        )


def _add_policies(account: Account, rng: random.Random, count: int) -> None:
    user_ids = list(account.users)
    schedule_ids = list(account.schedules)
    for i in range(count):
        levels = []
        for _ in range(rng.randint(1, 3)):
            targets: list[tuple[str, str]] = []
            for _ in range(rng.randint(1, 2)):
                if schedule_ids and rng.random() < 0.6:
                    targets.append(("schedule", rng.choice(schedule_ids)))
                elif user_ids:
                    targets.append(("user", rng.choice(user_ids)))
            levels.append(targets)
        pid = account.new_id("E")
        account.policies[pid] = EscalationPolicy(pid, f"Policy {i}", levels)


def _add_services(account: Account, rng: random.Random, count: int) -> None:
    team_ids = list(account.teams)
    policy_ids = list(account.policies)
    for i in range(count):
        name = f"{rng.choice(SERVICE_WORDS)}-{rng.choice(SERVICE_WORDS)}-{i}"
        created = EPOCH - rng.randint(0, 3 * 365 * 86400)
        account.add_service(
            name,
            escalation_policy_id=rng.choice(policy_ids),
            team_ids=rng.sample(team_ids, min(rng.randint(0, 2), len(team_ids))),
            status=rng.choice(STATUSES),
            description=rng.choice([None, f"Runs {name} 🚀"]),
            created_at=iso(created),
            last_incident_timestamp=rng.choice([None, iso(created + rng.randint(0, 10**7))]),
            alert_creation=rng.choice(["create_incidents", "create_alerts_and_incidents"]),
            auto_resolve_timeout=rng.choice([None, 14400]),
            acknowledgement_timeout=rng.choice([None, 1800]),
        )
