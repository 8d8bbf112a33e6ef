import pytest

from dexndm_learning.steal_clock import StealCorrectedClock, read_proc_stat


def test_counts_only_the_share_not_stolen():
    now, stat = [0.0], [(0, 0)]
    clock = StealCorrectedClock(offset=5.0, now=lambda: now[0], read=lambda: stat[0])
    now[0], stat[0] = 10.0, (0, 1000)          # no steal: all 10 s count
    assert clock.tick() == pytest.approx(15.0)
    now[0], stat[0] = 20.0, (400, 2000)        # 40 % stolen: 6 of 10 s count
    assert clock.tick() == pytest.approx(21.0)
    assert clock.steal_seconds == pytest.approx(4.0)
    now[0] = 25.0                              # no new jiffies (no /proc/stat): plain wall time
    assert clock.tick() == pytest.approx(26.0)


def test_reads_this_machine():
    steal, total = read_proc_stat()
    assert 0 <= steal <= total
