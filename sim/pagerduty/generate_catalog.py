"""A deterministic catalog for a generated account: business services (some owned by a
team), service dependencies (business on business, business on technical, technical on
technical), integrations with vendors, tags on users, teams and policies, one open
maintenance window, and a few users not notified of high-urgency incidents.

    account = Account.generate(seed=7, users=60, catalog=True)
    # or, on an account of one's own:
    populate_catalog(account, random.Random(7))

The same account and seed always give the same catalog. On an account of one's own, the
users' contact changes write their audit records, as PagerDuty's do (the catalog's other
changes write none); Account.generate writes no record at all.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from sim.pagerduty.objects import iso
from sim.pagerduty.vendors import INTEGRATION_TYPES, VENDORS

if TYPE_CHECKING:
    from sim.pagerduty.account import Account

EPOCH = 1_700_000_000.0  # generate.EPOCH: integrations were created before it
BUSINESS_WORDS = [
    "Checkout",
    "Sign-in",
    "Search",
    "Payments",
    "Mobile app",
    "Reporting",
    "Notifications",
    "Onboarding",
    "Café orders",
]
TAG_LABELS = ["production", "tier-1", "eu-west", "payments", "on-call-veteran", "légacy"]
MAINTENANCE_HOURS = 6  # the open window ends this long after the account is populated


def populate_catalog(
    account: Account,
    rng: random.Random,
    *,
    business_services: int | None = None,
    integrated_services: int | None = None,
    tags: int = 4,
    no_high_urgency: int = 3,
) -> None:
    """Add the catalog to a populated account (defaults: a business service per 8
    services, at least 2; integrations on a third of the services)."""
    services = list(account.services)
    if business_services is None:
        business_services = max(2, len(services) // 8) if services else 0
    if integrated_services is None:
        integrated_services = len(services) // 3
    _add_business_services(account, rng, business_services)
    _add_dependencies(account, rng)
    _add_integrations(account, rng, integrated_services)
    _add_tags(account, rng, tags)
    if services:
        now = account.clock()
        account.add_maintenance_window(
            rng.sample(services, min(2, len(services))),
            now,
            now + MAINTENANCE_HOURS * 3600,
            "Database upgrade 🛠",
        )
    _vary_notifications(account, rng, no_high_urgency)


def _add_business_services(account: Account, rng: random.Random, count: int) -> None:
    team_ids = list(account.teams)
    names = [u["name"] for u in account.users.values()]
    for i in range(count):
        name = f"{BUSINESS_WORDS[i % len(BUSINESS_WORDS)]} {i}"
        account.add_business_service(
            name,
            description=rng.choice([None, f"What customers know as {name}"]),
            point_of_contact=rng.choice(names) if names and rng.random() < 0.7 else None,
            team_id=rng.choice(team_ids) if team_ids and i % 2 == 0 else None,
        )


def _add_dependencies(account: Account, rng: random.Random) -> None:
    """Each business service on the one before it (from the second on) and on one to three
    services; a service on another created before it (no cycle) for a fifth of them."""
    business = list(account.catalog.business_services)
    services = list(account.services)
    for i, bid in enumerate(business):
        if i:
            account.add_dependency(("business_service", bid), ("business_service", business[i - 1]))
        for sid in rng.sample(services, min(len(services), rng.randint(1, 3))):
            account.add_dependency(("business_service", bid), ("service", sid))
    for _ in range(len(services) // 5):
        later, earlier = sorted(rng.sample(range(len(services)), 2), reverse=True)
        dependent, supporting = ("service", services[later]), ("service", services[earlier])
        if account.dependency_id(dependent, supporting) is None:
            account.add_dependency(dependent, supporting)


def _add_integrations(account: Account, rng: random.Random, count: int) -> None:
    """One or two integrations on each of `count` services: a vendor's, or the generic
    Events API's (no vendor); the first service also takes email."""
    vendor_ids = list(VENDORS)
    for n, sid in enumerate(rng.sample(list(account.services), count)):
        for _ in range(rng.randint(1, 2)):
            created = iso(EPOCH - rng.randint(0, 365 * 86400))
            vendor_id = rng.choice([*vendor_ids, None])
            if vendor_id is None:
                kind, name = "generic_events_api_inbound_integration", "Events API"
            else:
                kind, name = INTEGRATION_TYPES[vendor_id], VENDORS[vendor_id]["name"]
            account.add_integration(sid, name, type=kind, vendor_id=vendor_id, created_at=created)
        if n == 0:
            account.add_integration(sid, "Email", type="generic_email_inbound_integration")


def _add_tags(account: Account, rng: random.Random, count: int) -> None:
    """Tags on a few users each, and on teams and escalation policies."""
    users, teams, policies = list(account.users), list(account.teams), list(account.policies)
    for label in TAG_LABELS[:count]:
        tid = account.add_tag(label)
        for uid in rng.sample(users, min(len(users), rng.randint(1, 4))):
            account.tag("user", uid, tid)
        for team_id in rng.sample(teams, min(len(teams), rng.randint(0, 2))):
            account.tag("team", team_id, tid)
        for pid in rng.sample(policies, min(len(policies), rng.randint(0, 2))):
            account.tag("escalation_policy", pid, tid)


def _vary_notifications(account: Account, rng: random.Random, count: int) -> None:
    """`count` users lose their high-urgency rule: the first is told of low urgency by
    email, the second by SMS, the rest not at all; and as many others add a phone,
    called five minutes into a high-urgency incident."""
    picked = rng.sample(list(account.users), min(len(account.users), 2 * count))
    for n, uid in enumerate(picked[:count]):
        for rule in list(account.notification_rules_of(uid).values()):
            if rule["urgency"] == "high":
                account.remove_notification_rule(uid, rule["id"])
        email = next(iter(account.contact_methods_of(uid)), None)
        if n == 0 and email is not None:
            account.add_notification_rule(uid, email, "low", 0)
        elif n == 1:
            sms = account.add_contact_method(uid, "sms_contact_method", _number(rng), "Mobile")
            account.add_notification_rule(uid, sms, "low", 0)
    for uid in picked[count:]:
        phone = account.add_contact_method(uid, "phone_contact_method", _number(rng), "Mobile")
        account.add_notification_rule(uid, phone, "high", 5)


def _number(rng: random.Random) -> str:
    """A phone number of the US fictional range (555-01xx), without its country code."""
    return f"{rng.randint(201, 989)}55501{rng.randint(0, 99):02d}"
