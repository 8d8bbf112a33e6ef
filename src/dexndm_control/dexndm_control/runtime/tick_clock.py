"""Tick schedule of a fixed-rate loop: measured period and missed ticks.

Deadlines lie on the grid ``t0 + k * period`` (t0 = the first tick). A tick that starts later
than one period after its deadline means the ticks whose deadlines passed meanwhile never ran:
they are counted as missed, and the next deadline is the first grid point after this tick, as
a ROS timer skips them.
"""
from __future__ import annotations

import math


class TickClock:
    def __init__(self, period: float):
        if not period > 0:
            raise ValueError(f"period must be > 0, got {period}")
        self.period = period
        self.missed = 0
        self._deadline: float | None = None
        self._last: float | None = None

    def start(self, now: float) -> float:
        """Register a tick starting at ``now``; returns the time since the previous tick (nan first)."""
        if self._deadline is None:
            self._deadline = now
        late = now - self._deadline
        skipped = max(0, math.floor(late / self.period))
        self.missed += skipped
        self._deadline += (skipped + 1) * self.period
        since = math.nan if self._last is None else now - self._last
        self._last = now
        return since
