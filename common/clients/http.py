"""What the PagerDuty and JupiterOne clients share: retry timing and rate-limit headers."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from common.clients.ratelimit import RequestBudget

log = logging.getLogger(__name__)

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

    def longest_call(self, timeout: tuple[float, float]) -> float:
        """The longest one `send` can take with this policy (429 waits, every attempt timing
        out, every backoff at its cap), not counting waits for the shared request budget:
        what an RQ job's timeout must exceed (common.queueing.JOB_TIMEOUT)."""
        attempts = self.max_attempts
        return (
            self.rate_limit_max_wait + attempts * sum(timeout) + (attempts - 1) * self.backoff_cap
        )


# For a person waiting at a terminal (`pdgraph check`): give up within seconds.
INTERACTIVE_RETRY = RetryPolicy(max_attempts=2, backoff_base=0.2, rate_limit_max_wait=10)


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


def json_body(
    response: requests.Response, label: str, error: type[Exception], hint: str = ""
) -> Any:
    """The decoded JSON of a successful answer ({} when empty); `error` when it is not JSON."""
    try:
        return response.json() if response.content else {}
    except ValueError:
        raise error(
            f"{label}: HTTP {response.status_code} with a body that is not JSON{hint}"
        ) from None


class RetryingClient:
    """What the PagerDuty and JupiterOne clients share: a session per thread, a request
    budget (shared through Redis when given one), and one retry loop.

    `send` retries connection errors, timeouts and 408/5xx with capped backoff, waits out
    429s (`RateLimit-Reset`, then `Retry-After`, then backoff) by pausing the budget, and
    pauses it when `RateLimit-Remaining` reaches 0. Any other answer is returned for the
    subclass to read.
    """

    service = "API"  # in log lines
    error: type[Exception] = Exception  # raised when retrying gave up
    unreachable_hint = ""  # appended to "no answer" errors

    def __init__(
        self,
        *,
        budget: RequestBudget,
        retry: RetryPolicy | None,
        timeout: tuple[float, float],
        sleep: Callable[[float], None],
    ) -> None:
        self.budget = budget
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._sleep = sleep
        self._local = threading.local()
        self._count_lock = threading.Lock()
        self.requests_made = 0
        self.rate_limited = 0

    def headers(self) -> dict[str, str]:
        """The headers of every request (credentials included: never log them)."""
        return {}

    def answered(self, label: str, status: int) -> None:
        """Called with each answer's HTTP status (0: none): the metrics hook."""

    def no_answer(self, label: str, exc: Exception, attempts: int) -> Exception:
        """The error once connection errors or timeouts used up every attempt."""
        return self.error(
            f"{label}: {type(exc).__name__} after {attempts} attempts{self.unreachable_hint}"
        )

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update({"User-Agent": "pdgraph/0.1", **self.headers()})
            self._local.session = session
        return session

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()

    def send(self, method: str, url: str, label: str, **kwargs: Any) -> requests.Response:
        """One call with retries; `label` names it in errors ("GET /users", ...)."""
        failures = 0
        waited_on_rate_limit = 0.0
        while True:
            self.budget.acquire()
            with self._count_lock:
                self.requests_made += 1
            try:
                response = self._session().request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.answered(label, 0)
                failures += 1
                if failures >= self.retry.max_attempts:
                    raise self.no_answer(label, exc, failures) from None
                self._sleep(self.retry.backoff(failures - 1))
                continue
            except requests.RequestException as exc:  # bad URL, redirect loop, ...
                raise self.error(f"{label}: {type(exc).__name__}: {exc}") from None
            status = response.status_code
            self.answered(label, status)
            if status < 400:
                if response.headers.get("RateLimit-Remaining") == "0":
                    self.budget.pause(header_seconds(response, "RateLimit-Reset") or 1.0)
                return response
            if status == 429:
                with self._count_lock:
                    self.rate_limited += 1
                wait = header_seconds(response, "RateLimit-Reset", "Retry-After")
                if wait is None:  # 429s sometimes come without headers
                    wait = self.retry.backoff(min(failures, 6) + 1)
                failures += 1
                waited_on_rate_limit += wait
                if waited_on_rate_limit > self.retry.rate_limit_max_wait:
                    raise self.error(
                        f"{label}: still rate limited after waiting {waited_on_rate_limit:.0f}s"
                    )
                log.warning(f"{self.service} rate limited", extra={"op": label, "wait_s": wait})
                self.budget.pause(wait)
                continue
            if status in RETRYABLE_STATUS:
                failures += 1
                if failures >= self.retry.max_attempts:
                    raise self.error(f"{label}: HTTP {status} after {failures} attempts")
                self._sleep(self.retry.backoff(failures - 1))
                continue
            return response
