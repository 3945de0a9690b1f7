"""The demo's account and how it changes over time.

The account (`demo_account`): a generated one with an example of each finding the report's
checks look for planted in it, true from the first full sync on, and the people who change
it: an admin in the web UI (Grace Hopper), the same admin by her own API token, an account
API key (Terraform Cloud) and an app (Backstage, by OAuth).

Its changes: services (`ServiceChurn`, announced by webhook) and users and teams
(`PeopleChanges`), which PagerDuty announces by no webhook, only by an audit record
(`GET /audit/records`), so the graph follows them through pdgraph's audit feed (or its light
refresh, or the next full sync). The changes are made as the actors above (a service's
status, as the account owner in the browser), so the audit records (and pdgraph's change
history) say who made each and by which means. Each people change returns the line the
demo prints, naming the object's `_key` in the graph and who made the change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.pagerduty import Account
from sim.pagerduty.audit import Actor, api_key_actor, app_actor

SURNAMES = ("Hopper", "Lamarr", "Noether", "Turing", "Okafor", "Nakamura", "Johnson", "Ørsted")
ADMIN_ROLES = ("admin", "owner")
DAY = 24 * 3600
# A brief admin is revoked this long after it was granted (at most a fifth of the audit poll
# interval), both in the middle of one poll interval: one poll reads both records.
BRIEF_ADMIN_SECONDS = 3.0
PLANTED_USERS = 2  # Grace Hopper and Linus Pauling (Alan Kay is planted deleted)


def _user_key(user_id: str) -> str:
    return f"user:{user_id}"


@dataclass
class DemoAccount:
    """The demo's account, the actors who change it, and what was planted for the report:
    `findings` maps each check to the graph keys of its planted example."""

    account: Account
    admin: Actor  # Grace Hopper, an admin, in the web UI
    admin_token: Actor  # the same admin by her own API token
    terraform: Actor  # an account API key: infrastructure as code
    backstage: Actor  # an app, by its OAuth token: the developer portal manages teams
    findings: dict[str, list[str]] = field(default_factory=dict)
    users: frozenset[str] = frozenset()  # planted users the changes leave alone
    services: frozenset[str] = frozenset()  # planted services the churn leaves alone


def demo_account(
    users: int,
    *,
    shift_seconds: int,
    clock: Callable[[], float] = time.time,
    seed: int = 2026,
) -> DemoAccount:
    """A generated account of `users` users (two of them planted) with one example of each
    report finding planted in it (as old as the generated objects: the audit trail starts
    empty)."""
    account = Account.generate(
        seed=seed,
        users=max(0, users - PLANTED_USERS),
        teams=users // 10,
        services=users // 2,
        shift_seconds=shift_seconds,
        clock=clock,
        catalog=True,
    )
    demo = plant_findings(account)
    account.audit.clear()
    return demo


def plant_findings(account: Account) -> DemoAccount:
    """One example of each of the report's checks, none of which a generated account
    (whose every policy level has a target and every rotation a user) is sure to have:

    - a service naming an escalation policy the API does not list (as for a policy the
      key cannot read): service_without_escalation_policy;
    - a schedule whose only member left (deleted): nobody on call in the next 7 days
      (schedule_coverage_gap), so nobody at the level of the policy that escalates to it
      (service_level_without_oncall);
    - a single-level policy paging a user in no team (single_level_escalation_policy,
      oncall_user_without_team);
    - a disabled service (disabled_service) and an admin (admin_user), Grace Hopper, who
      makes the demo's browser changes;
    - the single-level policy's user has no notification rule left (oncall_user_unreachable);
    - a business service depending on the disabled service (business_service_at_risk);
    - a maintenance window on the night batch for a month (service_in_maintenance).
    """
    team_ids = sorted(account.teams)[:1]
    grace = account.add_user(
        "Grace Hopper",
        "grace.hopper@example.com",
        role="admin",
        team_ids=team_ids,
        job_title="Platform lead",
    )
    loner = account.add_user("Linus Pauling", "linus.pauling@example.com", job_title="SRE")
    leaver = account.add_user("Alan Kay", "alan.kay@example.com", job_title="Contractor")
    legacy = account.add_schedule(
        "Legacy DB on-call", [leaver], team_ids=team_ids, epoch=account.clock() - DAY
    )
    account.delete_user(leaver)  # the schedule keeps its one (gone) member: all gap
    legacy_policy = account.add_policy(
        "Legacy DB escalation", [[("user", grace)], [("schedule", legacy)]], team_ids=team_ids
    )
    single = account.add_policy("Night batch pager", [[("user", loner)]])
    unlisted = account.add_policy("Payments v1 escalation", [[("user", grace)]])
    services = {
        "legacy": account.add_service(
            "legacy-db", escalation_policy_id=legacy_policy, team_ids=team_ids
        ),
        "single": account.add_service("night-batch", escalation_policy_id=single),
        "unlisted": account.add_service(
            "payments-v1-webhooks", escalation_policy_id=unlisted, team_ids=team_ids
        ),
        "disabled": account.add_service(
            "old-reporting", escalation_policy_id=single, status="disabled"
        ),
    }
    del account.policies[unlisted]  # the service names it; no listing shows it
    account.changed()
    for rule in list(account.notification_rules_of(loner)):
        account.remove_notification_rule(loner, rule)
    checkout = account.add_business_service("Checkout", point_of_contact="payments@example.com")
    account.add_dependency(("business_service", checkout), ("service", services["disabled"]))
    now = account.clock()
    account.add_maintenance_window([services["single"]], now, now + 30 * DAY, "migration")
    services["checkout"] = checkout
    planted = {"grace": grace, "loner": loner, "legacy": legacy}
    return _planted(account, planted, {"legacy": legacy_policy, "single": single}, services)


def _planted(
    account: Account, ids: dict[str, str], policies: dict[str, str], services: dict[str, str]
) -> DemoAccount:
    """The demo account with its actors and its planted examples, by check."""
    grace, loner, legacy = ids["grace"], ids["loner"], ids["legacy"]
    legacy_policy, single = policies["legacy"], policies["single"]
    service_key, policy_key = "service:{}".format, "escalation_policy:{}".format
    return DemoAccount(
        account=account,
        admin=account.user_actor(grace),
        admin_token=account.user_actor(grace, "api_token", token="u+grace-token-Gh4Q"),
        terraform=api_key_actor("PKEYTF1", "Terraform Cloud", token="pd-terraform-token+Yx3"),
        backstage=app_actor("PAPPBK1", "Backstage", token="oauth-backstage-9qLk"),
        findings={
            "service_without_escalation_policy": [service_key(services["unlisted"])],
            "service_level_without_oncall": [
                service_key(services["legacy"]),
                policy_key(legacy_policy),
            ],
            "single_level_escalation_policy": [policy_key(single)],
            "schedule_coverage_gap": [f"schedule:{legacy}"],
            "oncall_user_without_team": [_user_key(loner)],
            "disabled_service": [service_key(services["disabled"])],
            "admin_user": [_user_key(grace)],
            "oncall_user_unreachable": [_user_key(loner)],
            "business_service_at_risk": [
                f"business_service:{services['checkout']}",
                service_key(services["disabled"]),
            ],
            "service_in_maintenance": [service_key(services["single"])],
        },
        users=frozenset({grace, loner}),
        services=frozenset(v for k, v in services.items() if k != "checkout"),
    )


class ServiceChurn:
    """Services renamed, created, deleted and changing status, incidents triggered and
    escalated: the changes PagerDuty announces by webhook. Renames, creations and deletions
    are Terraform's (its API key); the planted services are left alone."""

    def __init__(self, demo: DemoAccount, seed: int = 3) -> None:
        self.demo = demo
        self.account = demo.account
        self.rng = random.Random(seed)
        self.count = 0

    def step(self) -> None:
        """One change (the caller holds the simulator's lock)."""
        self.count += 1
        account, rng, step = self.account, self.rng, self.count
        services = sorted(set(account.services) - self.demo.services)
        action = rng.random()
        if action < 0.45 and services:
            sid = rng.choice(services)
            with account.acting_as(self.demo.terraform):
                account.update_service(
                    sid, name=f"{account.services[sid]['name'].split(' ·')[0]} · v{step}"
                )
        elif action < 0.55:
            with account.acting_as(self.demo.terraform):
                account.add_service(
                    f"new-service-{step}",
                    escalation_policy_id=rng.choice(sorted(account.policies)),
                    team_ids=rng.sample(sorted(account.teams), k=min(2, len(account.teams))),
                )
        elif action < 0.62 and len(services) > 10:
            with account.acting_as(self.demo.terraform):
                account.delete_service(rng.choice(services))
        elif action < 0.8 and services:
            account.update_service(
                rng.choice(services),
                status=rng.choice(["active", "warning", "critical", "maintenance"]),
            )
        elif services:
            account.trigger_incident(
                rng.choice(services),
                rng.choice(["incident.triggered", "incident.escalated", "incident.reassigned"]),
            )


class PeopleChanges:
    """The cycle of user and team changes, applied to the account one `step()` at a time
    (the caller holds the simulator's lock), each by one of the demo's actors: rename a user
    (Terraform), make a user an admin and, `BRIEF_ADMIN_SECONDS` later, what they were
    again (Grace Hopper in the browser: one audit poll reads both, so the graph never shows
    the admin; the change history does), add a user to a team and take them out again
    (Backstage), create a user and delete them (Grace Hopper's API token).

    `seconds_until_next()` says when the next step is due."""

    def __init__(self, demo: DemoAccount, seed: int = 5, poll_seconds: float = 30) -> None:
        self.demo = demo
        self.account = demo.account
        self.rng = random.Random(seed)
        self.count = 0
        self.poll_seconds = poll_seconds
        self.brief_seconds = min(BRIEF_ADMIN_SECONDS, poll_seconds / 5)
        self._admin: tuple[str, str] | None = None  # user id, the role they had
        self._member: tuple[str, str] | None = None  # team id, user id
        self._created: str | None = None  # user id
        self._steps: list[Callable[[], str | None]] = [
            self.rename_user,
            self.make_admin,
            self.restore_role,
            self.add_member,
            self.remove_member,
            self.create_user,
            self.delete_user,
        ]

    def step(self) -> str:
        """Make the next change of the cycle (skipping one that has nothing to change)."""
        for _ in range(len(self._steps)):
            change = self._steps[self.count % len(self._steps)]
            self.count += 1
            line = change()
            if line is not None:
                return line
        return "no user or team to change"

    def seconds_until_next(self, now: float, every: float) -> float:
        """How long to wait before the next step: `every`; but a brief admin is revoked
        `brief_seconds` after it was granted, and granted in the middle of an audit poll
        interval (polls run at multiples of `poll_seconds`, as pdgraph's clock queues
        them), so that no poll falls between the grant and the revoke."""
        if self._admin is not None:
            return self.brief_seconds
        if self._steps[self.count % len(self._steps)] != self.make_admin:
            return every
        due = now + every
        middle = (self.poll_seconds - self.brief_seconds) / 2
        grant = due - due % self.poll_seconds + middle
        if grant < due:
            grant += self.poll_seconds
        return grant - now

    def _pick_user(self, where: Callable[[dict[str, Any]], bool] = lambda _: True) -> str | None:
        users = [
            uid
            for uid, user in sorted(self.account.users.items())
            if uid not in self.demo.users and where(user)
        ]
        return self.rng.choice(users) if users else None

    def _by(self, actor: Actor) -> str:
        return f"by {actor.describe()}"

    def rename_user(self) -> str | None:
        user_id = self._pick_user()
        if user_id is None:
            return None
        old = self.account.users[user_id]["name"]
        first = old.split(" ")[0]
        new = f"{first} {self.rng.choice([s for s in SURNAMES if s not in old])}"
        with self.account.acting_as(self.demo.terraform):
            self.account.update_user(user_id, name=new)
        return (
            f"renamed user {_user_key(user_id)}: {old!r} → {new!r}, {self._by(self.demo.terraform)}"
        )

    def make_admin(self) -> str | None:
        user_id = self._pick_user(lambda user: user["role"] not in ADMIN_ROLES)
        if user_id is None:
            return None
        role = self.account.users[user_id]["role"]
        self._admin = (user_id, role)
        with self.account.acting_as(self.demo.admin):
            self.account.update_user(user_id, role="admin")
        name = self.account.users[user_id]["name"]
        return (
            f"made {_user_key(user_id)} ({name}) an admin: role {role} → admin, "
            f"{self._by(self.demo.admin)}"
        )

    def restore_role(self) -> str | None:
        if self._admin is None:
            return None
        (user_id, role), self._admin = self._admin, None
        if user_id not in self.account.users:
            return None
        with self.account.acting_as(self.demo.admin):
            self.account.update_user(user_id, role=role)
        name = self.account.users[user_id]["name"]
        return (
            f"made {_user_key(user_id)} ({name}) no admin again: role admin → {role}, "
            f"{self._by(self.demo.admin)}, {self.brief_seconds:g} s later (within one "
            f"{self.poll_seconds:g} s audit poll: only the change history shows the admin)"
        )

    def add_member(self) -> str | None:
        teams = sorted(self.account.teams)
        if not teams:
            return None
        team_id = self.rng.choice(teams)
        user_id = self._pick_user(lambda user: team_id not in user["team_ids"])
        if user_id is None:
            return None
        with self.account.acting_as(self.demo.backstage):
            self.account.add_member(team_id, user_id)
        self._member = (team_id, user_id)
        return (
            f"added {_user_key(user_id)} to team:{team_id} ({self._team_name(team_id)}), "
            f"{self._by(self.demo.backstage)}"
        )

    def remove_member(self) -> str | None:
        if self._member is None:
            return None
        (team_id, user_id), self._member = self._member, None
        user = self.account.users.get(user_id)
        if user is None or team_id not in user["team_ids"]:
            return None
        with self.account.acting_as(self.demo.backstage):
            self.account.remove_member(team_id, user_id)
        return (
            f"removed {_user_key(user_id)} from team:{team_id} ({self._team_name(team_id)}), "
            f"{self._by(self.demo.backstage)}"
        )

    def create_user(self) -> str | None:
        number = self.count
        teams = sorted(self.account.teams)[:1]
        name = f"Demo Person{number}"
        with self.account.acting_as(self.demo.admin_token):
            user_id = self.account.add_user(
                name, f"demo.person{number}@example.com", role="user", team_ids=teams
            )
        self._created = user_id
        where = f", in team:{teams[0]}" if teams else ""
        return (
            f"created user {_user_key(user_id)} ({name}{where}), {self._by(self.demo.admin_token)}"
        )

    def delete_user(self) -> str | None:
        if self._created is None or self._created not in self.account.users:
            return None
        user_id, self._created = self._created, None
        name = self.account.users[user_id]["name"]
        with self.account.acting_as(self.demo.admin_token):
            self.account.delete_user(user_id)
        return f"deleted user {_user_key(user_id)} ({name}), {self._by(self.demo.admin_token)}"

    def _team_name(self, team_id: str) -> str:
        return str(self.account.teams[team_id]["name"])
