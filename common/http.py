"""What the PagerDuty and JupiterOne clients share: retry timing and rate-limit headers."""

from __future__ import annotations

import random
from dataclasses import dataclass

import requests

RETRYABLE_STATUS = frozenset({408, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # for 5xx, 408 and connection errors
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    rate_limit_max_wait: float = 600.0  # total time spent waiting on 429s before giving up

    def backoff(self, attempt: int) -> float:
        """Capped exponential with equal jitter: half fixed, half random."""
        ceiling: float = min(self.backoff_cap, self.backoff_base * 2.0**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def header_seconds(response: requests.Response, *names: str) -> float | None:
    """The first of these headers that holds a number of seconds (never negative)."""
    for name in names:
        value = response.headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None
