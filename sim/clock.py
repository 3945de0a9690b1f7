"""A clock that moves only when told: the simulator's time in tests and benchmarks.

`Account.generate(..., clock=Clock())`, then `clock.now = t` (or `+= s`) to let time pass.

It starts at the real time (a whole minute) unless told otherwise: pdgraph reads its own
clock (what it asks the audit feed `since`, when a hand-off is due), so a simulator frozen
at a fixed date would agree with it only until the calendar passed that date (issue 17:
the feed's `since` fell outside the simulator's 31 days, hand-offs were "overdue").
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self, now: float | None = None) -> None:
        self.now = float(now if now is not None else time.time() // 60 * 60)

    def __call__(self) -> float:
        return self.now
