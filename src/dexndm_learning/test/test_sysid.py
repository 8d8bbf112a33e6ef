"""sysid.fit: known gains recovered from probing steps (the issue's bar), and the error weighting."""
import numpy as np
import pytest

from dexndm_learning.data.wave_targets import wave_targets
from dexndm_learning.ndm.steps import Steps
from dexndm_learning.sim.chaos_box import ChaosBoxSim
from dexndm_learning.sim.hand_model import HandConfig, hand_spec
from dexndm_learning.sim.reality import RealityProfile
from dexndm_learning.sysid.config import SysIdRunConfig
from dexndm_learning.sysid.fit import Replayer, SysIdConfig, identify

HOLD = 20     # control steps at each trajectory's first target before it is recorded (the replay node's hold)


def probe_steps(profile: RealityProfile, targets: np.ndarray, wrist: str = "palm_up") -> Steps:
    """The free hand in ``profile`` replaying ``targets`` (K, T, 16) as the Chaos Box graph does
    (the same scene and physics as the simulated hand node), without ROS."""
    hand = HandConfig.load()
    sim = ChaosBoxSim(hand_spec(hand, wrist), hand, profile, settle_steps=0)
    parts = []
    for i, traj in enumerate(targets):
        sim.hold(traj[0], HOLD)
        r = sim.replay(traj)
        parts.append(Steps(r.q[:-1], r.targets, np.full(len(traj), i)))
    return Steps.concat(parts)


@pytest.mark.identification
@pytest.mark.parametrize("seed", [5, 6])
def test_recovers_known_random_gains_from_48_probing_trajectories(seed):
    rng = np.random.default_rng(seed)
    kp = rng.uniform(0.6, 1.4, 16)
    kd = np.exp(rng.uniform(np.log(0.5), np.log(2.0), 16))
    cfg = SysIdRunConfig.load()
    assert cfg.trajectories <= 50
    targets, _, _ = wave_targets(cfg.trajectories, cfg.probe, cfg.seed)
    steps = probe_steps(RealityProfile(kp_scale=kp.tolist(), kd_scale=kd.tolist()), targets)
    result = identify(steps, cfg.fit, progress=False)
    kp_err = np.asarray(result.profile.kp_scale) / kp - 1
    kd_err = np.asarray(result.profile.kd_scale) / kd - 1
    assert np.abs(kp_err).max() <= 0.10, kp_err.round(3)
    assert np.abs(kd_err).max() <= 0.25, kd_err.round(3)
    assert np.all(result.error < result.nominal_error)


def test_a_joint_is_scored_on_the_segments_that_drive_it():
    targets, joints, _ = wave_targets(3, seed=0)             # joints 0, 1, 2 driven
    steps = probe_steps(RealityProfile(kp_scale=[0.5] + [1.0] * 15), targets)
    replay = Replayer(steps, SysIdConfig(nthread=1))
    np.testing.assert_array_equal(replay.weight[:, :3], np.eye(3))
    assert replay.weight[:, 3:].all()                        # joints never driven: every segment
    err = replay.errors([RealityProfile(), RealityProfile(kp_scale=[0.5] + [1.0] * 15)])
    assert err[1, 0] < 0.2 * err[0, 0]                       # the true gain explains joint 0's motion
    np.testing.assert_allclose(err[1, 1:3], err[0, 1:3], rtol=0.2, atol=2e-4)    # others: ~unchanged


def test_the_command_latency_is_found_before_the_gains():
    targets, _, _ = wave_targets(4, seed=1)
    for latency in (0, 1, 2):
        steps = probe_steps(RealityProfile(latency_steps=latency, kp_scale=0.8), targets)
        result = identify(steps, SysIdConfig(iterations=1, population=4, elites=2, nthread=1), progress=False)
        assert result.profile.latency_steps == latency
