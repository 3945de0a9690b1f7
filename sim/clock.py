"""A clock that moves only when told: the simulator's time in tests and benchmarks.

`Account.generate(..., clock=Clock())`, then `clock.now = t` (or `+= s`) to let time pass.
"""

from __future__ import annotations

DEFAULT_START = 1_800_000_000.0  # 2027-01-15T08:00:00Z: a fixed, future "now"


class Clock:
    def __init__(self, now: float = DEFAULT_START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
