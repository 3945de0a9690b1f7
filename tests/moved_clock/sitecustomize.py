"""Moves the clock of every Python process of a suite run by PDGRAPH_TEST_CLOCK_SHIFT_DAYS.

`make test-moved-clock` runs the suite with this folder on PYTHONPATH, so the test process
and every process it starts (web, worker, clock, the demo, the CLI) load it at start and
see the same calendar, so many days from now, ticking on. time-machine patches the time and
datetime functions inside Python; the monotonic clock, and Redis' clock, are left alone.
(libfaketime moves the whole process, but hangs Python's Event.wait and stops redis-server.)
"""

import os

_DAYS = os.environ.get("PDGRAPH_TEST_CLOCK_SHIFT_DAYS")
if _DAYS:
    import time

    import time_machine

    _TRAVEL = time_machine.travel(time.time() + float(_DAYS) * 86400, tick=True)
    _TRAVEL.start()
