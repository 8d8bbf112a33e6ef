"""data.wave_targets: one joint driven at a time, the others at mid-range, within the limits."""
import numpy as np
import pytest

from dexndm_learning import joint_order
from dexndm_learning.data.wave_targets import KINDS, WaveConfig, mid_range, wave_targets


def test_each_trajectory_drives_one_joint_with_its_waveform():
    cfg = WaveConfig(steps=80, amplitude=0.3, w_low=1.0, w_high=3.0, noise=0.01)
    targets, joints, kinds = wave_targets(50, cfg, seed=3)
    assert targets.shape == (50, 80, 16)
    assert joint_order.within_limits(targets.reshape(-1, 16))
    np.testing.assert_array_equal(joints, np.arange(50) % 16)
    assert kinds[:48] == [k for k in KINDS for _ in range(16)] and kinds[48:] == ["sine", "sine"]
    for traj, j, kind in zip(targets, joints, kinds):
        others = np.delete(traj, j, axis=1)
        np.testing.assert_allclose(others, np.broadcast_to(np.delete(mid_range(), j), others.shape))
        half = (joint_order.UPPER[j] - joint_order.LOWER[j]) / 2
        offset = traj[:, j] - mid_range()[j]
        assert 0.5 * 0.3 * half - 1e-9 <= np.abs(offset).max() <= 0.3 * half + 0.05
        levels = np.unique(np.round(offset, 9))
        if kind == "square":
            assert len(levels) == 2 and np.isclose(levels[0], -levels[1])     # +-A only
        else:
            assert len(levels) > 10                                           # sine, or noise on a square


def test_seeded_and_checked():
    a, _, _ = wave_targets(5, seed=1)
    b, _, _ = wave_targets(5, seed=1)
    c, _, _ = wave_targets(5, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    with pytest.raises(ValueError, match="wave kinds"):
        wave_targets(2, WaveConfig(kinds=("triangle",)))
