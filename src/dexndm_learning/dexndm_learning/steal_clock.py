"""A wall clock that leaves out the CPU time the hypervisor gave to other guests (steal time).

On a shared virtual machine a CPU-bound job runs slower while the host is busy elsewhere: with a
steal share s, wall time is the uncontended time / (1 - s). Comparisons "at equal wall-clock"
between runs made hours apart are only fair on this clock: each interval of wall time counts
(1 - its steal share), read from the ``cpu`` line of ``/proc/stat`` (all CPUs of the machine).
"""
from __future__ import annotations

import time
from typing import Callable


def read_proc_stat() -> tuple[int, int]:
    """(steal jiffies, total jiffies) over all CPUs since boot; (0, 0) where /proc/stat is absent."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    steal = fields[7] if len(fields) > 7 else 0
    return steal, sum(fields[:8])


class StealCorrectedClock:
    """``tick()`` returns the steal-corrected seconds since construction (or since ``offset``)."""

    def __init__(self, offset: float = 0.0, now: Callable[[], float] = time.monotonic,
                 read: Callable[[], tuple[int, int]] = read_proc_stat):
        self._now, self._read = now, read
        self._t = now()
        self._steal, self._total = read()
        self.elapsed = offset
        self.steal_seconds = 0.0

    def tick(self) -> float:
        t, (steal, total) = self._now(), self._read()
        dt = t - self._t
        share = (steal - self._steal) / (total - self._total) if total > self._total else 0.0
        share = min(max(share, 0.0), 1.0)
        self.elapsed += dt * (1.0 - share)
        self.steal_seconds += dt * share
        self._t, self._steal, self._total = t, steal, total
        return self.elapsed
