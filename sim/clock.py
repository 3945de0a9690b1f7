"""A clock that moves only when told: the simulator's time in tests and benchmarks.

`Account.generate(..., clock=Clock())`, then `clock.now = t` (or `+= s`) to let time pass.

It starts at the next whole minute but one (1 to 2 minutes ahead of the real time) unless
told otherwise: pdgraph reads its own clock (what it asks the audit feed `since`, when a
hand-off is due), so a simulator frozen at a fixed date agreed with it only until the
calendar passed that date (issue 17: the feed's `since` fell outside the simulator's 31
days, and hand-offs were overdue). Ahead, not behind: a shift that ends after the
simulator's "now" is still to come for pdgraph, within a test's minute or two.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self, now: float | None = None) -> None:
        self.now = float(now if now is not None else (time.time() // 60 + 2) * 60)

    def __call__(self) -> float:
        return self.now
