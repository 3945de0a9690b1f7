"""The PagerDuty REST API client: `client` (requests, retries, errors) and `listings`
(whole listings past the 10,000 offset cap)."""

from common.clients.http import RetryPolicy
from common.clients.pagerduty.client import (
    AuditTrailUnavailable,
    PagerDutyClient,
    client_from_settings,
)
from common.clients.pagerduty.errors import (
    IncompleteListingError,
    PagerDutyAuthError,
    PagerDutyError,
    PagerDutyNotFoundError,
    PagerDutyUnreachable,
)
from common.clients.pagerduty.listings import PagerDutyObject, ProgressCallback

__all__ = [
    "AuditTrailUnavailable",
    "IncompleteListingError",
    "PagerDutyAuthError",
    "PagerDutyClient",
    "PagerDutyError",
    "PagerDutyNotFoundError",
    "PagerDutyObject",
    "PagerDutyUnreachable",
    "ProgressCallback",
    "RetryPolicy",
    "client_from_settings",
]
