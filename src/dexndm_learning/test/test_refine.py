"""residual.refine: the steps a deployment in the target records."""
import numpy as np
import torch
from torch import nn

from dexndm_learning import joint_order
from dexndm_learning.ndm.steps import make_windows
from dexndm_learning.policy.artifact import PolicySpec, save_policy
from dexndm_learning.policy.contract import obs_dim
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.residual.deploy import BaseResidualActor
from dexndm_learning.residual.refine import deployment_steps
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig, RotationEnv

BASE_OBS_DIM = obs_dim()
BOUND = 0.05
HAND = HandConfig.load().version           # the default environment's hand
N, STEPS, EPISODE = 2, 15, 6


def test_deployment_records_measured_positions_and_the_commanded_targets_per_episode(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path / "cache"))
    env = RotationEnv(EnvConfig(num_envs=N, object_set="normal_cylinders", episode_steps=EPISODE,
                                disturbance_prob=0.0, reality="worn_hand",
                                randomization=RandomizationConfig(enabled=False), grasp=GraspConfig(candidates=8),
                                nthread=1))
    torch.manual_seed(0)
    save_policy(tmp_path / "base.pt", "base", ResidualMLP(BASE_OBS_DIM, 16, 8, 1),
                PolicySpec(10, np.zeros(BASE_OBS_DIM), np.ones(BASE_OBS_DIM), 1 / 24, hand_version=HAND))
    res_net = ResidualMLP(BASE_OBS_DIM + 16, 16, 8, 1)
    nn.init.zeros_(res_net.out.weight)
    with torch.no_grad():
        res_net.out.bias.copy_(torch.linspace(-1, 1, 16))
    save_policy(tmp_path / "res.pt", "residual", res_net, PolicySpec(10, np.zeros(BASE_OBS_DIM + 16),
                                                                     np.ones(BASE_OBS_DIM + 16), 1 / 24,
                                                                     residual_bound=BOUND, hand_version=HAND))
    offset = BOUND * np.tanh(np.linspace(-1, 1, 16))        # what this residual always outputs
    seen = []                                                # (true q before, base target, done) per step
    step = env.step

    def watched(action):
        q = env.state[:, 1 + env.qadr].copy()
        out = step(action)
        seen.append((q, env.a_hist[:, -1].copy(), out[2].copy()))
        return out

    env.step = watched
    steps = deployment_steps(env, BaseResidualActor(env, tmp_path / "base.pt", tmp_path / "res.pt"), STEPS)

    assert len(steps) == N * STEPS
    true_q = np.stack([s[0] for s in seen], 1).reshape(-1, 16)          # env-major, as the steps
    base = np.stack([s[1] for s in seen], 1).reshape(-1, 16)
    done = np.stack([s[2] for s in seen], 1).reshape(-1)
    # q: the profile's sensor (worn_hand: bias and noise), not the true position.
    noise = float(np.max(env.sensor_model.noise_std))
    assert noise > 0 and np.abs(env.sensor_model.bias).max() > 0
    np.testing.assert_allclose(steps.q - true_q, np.broadcast_to(env.sensor_model.bias, true_q.shape), atol=5 * noise)
    # a: the command the world got, base target + residual within the limits, where the step did
    # not end its episode (a reset replaces the env's base target before it can be read).
    kept = ~done
    np.testing.assert_allclose(steps.a[kept], joint_order.clip_to_limits(base[kept] + offset), atol=1e-5)
    # One segment per episode: a new one starts after every step that ended an episode, and only there.
    assert done.reshape(N, STEPS)[:, EPISODE - 1].all()
    new = np.diff(steps.segment.reshape(N, STEPS), axis=1) != 0
    np.testing.assert_array_equal(new, done.reshape(N, STEPS)[:, :-1])
    assert len(np.unique(steps.segment)) == N + int(done.reshape(N, STEPS)[:, :-1].sum())
    # Windows never span two episodes.
    lengths = np.unique(steps.segment, return_counts=True)[1]
    assert len(make_windows(steps, 3).next_q) == int(np.maximum(lengths - 3, 0).sum())
