"""Waiting in tests for a condition, never for a fixed time.

The bound is for a loaded 2-core machine (two suites at once, a benchmark beside them):
a condition that holds returns at once, so a generous bound costs a passing test nothing.
`PDGRAPH_TEST_WAIT_SECONDS` raises it further on a machine slower still.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

WAIT_SECONDS = float(os.environ.get("PDGRAPH_TEST_WAIT_SECONDS", "120"))


def wait_for(
    condition: Callable[[], object],
    what: str,
    timeout: float = WAIT_SECONDS,
    *,
    interval: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> None:
    """Poll `condition` until it is true; fail naming `what` (and `detail()`) past `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)
