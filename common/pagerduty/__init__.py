"""The PagerDuty REST API client: `client` (requests, retries, errors) and `listings`
(whole listings past the 10,000 offset cap)."""

from common.http import RetryPolicy
from common.pagerduty.client import AuditTrailUnavailable, PagerDutyClient, client_from_settings
from common.pagerduty.errors import (
    IncompleteListingError,
    PagerDutyAuthError,
    PagerDutyError,
    PagerDutyNotFoundError,
    PagerDutyUnreachable,
)
from common.pagerduty.listings import PagerDutyObject, ProgressCallback

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
