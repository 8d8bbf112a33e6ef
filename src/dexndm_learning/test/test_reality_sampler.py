"""Random reality profiles (sim.reality_sampler): valid, reproducible, and wider than the shipped ones."""
import numpy as np
import pytest

from dexndm_learning.config import ConfigError
from dexndm_learning.sim.reality import load_profile
from dexndm_learning.sim.reality_sampler import ProfileDistribution, Range, sample_profiles


def test_samples_are_valid_profiles_within_their_ranges_and_reproducible():
    dist = ProfileDistribution.load("random_hands")
    profiles = sample_profiles(dist, 8, seed=3)
    for p in profiles:
        for name in ("kp_scale", "torque_limit", "frictionloss_scale", "backlash", "sensor_bias"):
            r, v = getattr(dist, name), np.atleast_1d(getattr(p, name))
            assert np.all(v >= r.low - 1e-9) and np.all(v <= r.high + 1e-9), name
        assert dist.latency_steps.low <= p.latency_steps <= dist.latency_steps.high
        assert len(p.kp_scale) == 16 and len(set(p.kp_scale)) > 1          # spread: joints differ
        assert len(p.sensor_bias) == 16                                    # per joint
    again = sample_profiles(dist, 10, seed=3)
    assert [a.kp_scale for a in again[:8]] == [p.kp_scale for p in profiles]   # a larger K keeps the first ones
    assert sample_profiles(dist, 1, seed=4)[0].kp_scale != profiles[0].kp_scale
    assert len({p.latency_steps for p in sample_profiles(dist, 40)}) == 3     # 0, 1 and 2 all occur


def test_the_distribution_reaches_beyond_every_shipped_profile():
    dist = ProfileDistribution.load("random_hands")
    for name in ("worn_hand", "paper_sysid"):
        p = load_profile(name)
        assert dist.kp_scale.low < np.min(p.kp_scale) and dist.kp_scale.high > 1.0      # weaker and stiffer
        assert dist.torque_limit.low < np.min(p.torque_limit)                          # weaker
        assert dist.latency_steps.high > p.latency_steps                               # slower
        assert dist.frictionloss_scale.high > np.max(p.frictionloss_scale)             # stickier
        assert dist.backlash.high > np.max(p.backlash)


def test_bad_ranges_are_refused():
    with pytest.raises(ConfigError):
        Range(1.0, 0.5)
    with pytest.raises(ConfigError):
        Range(0.0, 1.0, log=True)
    with pytest.raises(ConfigError, match="one number for the hand"):
        ProfileDistribution(latency_steps=Range(0, 2, per_joint=True))
