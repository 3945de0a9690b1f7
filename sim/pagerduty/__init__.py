"""A PagerDuty REST API v2 simulator: the test double for pdgraph and the engine of the demo.

Deterministic accounts of any size from a seed (`account`, `generate`); the REST routes
with PagerDuty's pagination, filters, rate limits and injectable faults (`server`), shaped
as PagerDuty's published spec says (`views`: policies, schedules, members; checked by
tests/sim/test_pagerduty_spec.py); the account's changes as signed v3 webhooks (`webhooks`) and as
`GET /audit/records` (`audit`; `audit_records="402"|"403"` refuses it like PagerDuty), each
record naming who made the change and how (`with account.acting_as(actor): ...`).
Around the services, a catalog (`catalog`: business services, service dependencies,
integrations and vendors, tags, maintenance windows; `Account.generate(..., catalog=True)`
or `populate_catalog`), and users' contact methods and notification rules (`contacts`).

    python -m sim.pagerduty --users 1000 --port 8099 --api-key demo
"""

from sim.pagerduty.account import Account
from sim.pagerduty.escalation import EscalationPolicy, Schedule
from sim.pagerduty.generate_catalog import populate_catalog
from sim.pagerduty.objects import HOST
from sim.pagerduty.server import OFFSET_CAP, PagerDutySim
from sim.pagerduty.webhooks import Delivery, WebhookSender

__all__ = [
    "HOST",
    "OFFSET_CAP",
    "Account",
    "Delivery",
    "EscalationPolicy",
    "PagerDutySim",
    "Schedule",
    "WebhookSender",
    "populate_catalog",
]
