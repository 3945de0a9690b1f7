"""How a PagerDuty request fails, by what the caller can do about it."""

from __future__ import annotations


class PagerDutyError(Exception):
    """A PagerDuty request failed for good."""


class PagerDutyAuthError(PagerDutyError):
    """401/403: the key is wrong or lacks access; retrying cannot help."""


class PagerDutyNotFoundError(PagerDutyError):
    """404: the object does not exist (for a re-read: it was deleted)."""


class PagerDutyUnreachable(PagerDutyError):
    """No answer at all after the retries (refused, DNS, timeout): PAGERDUTY_API_URL is
    wrong or PagerDuty is out of reach, which a CLI must say rather than a retry count."""


class IncompleteListingError(PagerDutyError):
    """A listing could not reach every object PagerDuty says exists."""
