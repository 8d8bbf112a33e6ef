"""``env.arrays: torch``: the rotation env's step on torch tensors on the physics device.

On the C backends the tensors live on the CPU in float64 and must give numpy's numbers exactly;
on MuJoCo Warp they stay on the Warp device, and a step reads nothing back from it but the indices
of the envs that reset.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from dexndm_learning.rl.vec_env import RslRlRotationEnv
from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv


@pytest.fixture
def late_hand(tmp_path):
    """A world with latency, backlash and encoder bias (no noise, so both array kinds can agree)."""
    path = tmp_path / "late_hand.yaml"
    path.write_text(yaml.safe_dump({"description": "test: late, with play and a biased encoder", "latency_steps": 2,
                                    "backlash": 0.02, "sensor_bias": 0.01, "kp_scale": 0.7}))
    return str(path)


def _numpy(x):
    return x.cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _run(arrays: str, reality: str, steps: int) -> list[dict]:
    env = RotationEnv(EnvConfig(num_envs=6, episode_steps=9, arrays=arrays, reality=reality, disturbance_prob=0.0,
                                joint_noise=0.0, nthread=1, seed=4))
    if arrays == "numpy":
        # numpy draws the step's (here zero) noise from the reset's stream; give it its own, as a device has
        env.random = np.random.default_rng(99)
    actions = np.random.default_rng(1).uniform(-1, 1, (steps, 6, 16))
    out = [{"oracle": _numpy(env.observations()["oracle"])}]
    for a in actions:
        obs, reward, done, info = env.step(a if arrays == "numpy" else torch.as_tensor(a))
        out.append({"oracle": _numpy(obs["oracle"]), "proprio": _numpy(obs["proprio"]), "reward": _numpy(reward),
                    "done": _numpy(done), "q": _numpy(info["q"]), "terms": _numpy(info["terms"].work)})
    return out


def test_torch_arrays_give_numpys_numbers_step_for_step_through_resets(late_hand):
    a, b = _run("numpy", late_hand, 24), _run("torch", late_hand, 24)
    assert sum(int(s["done"].sum()) for s in a[1:]) >= 12            # every env reset at least twice
    for t, (x, y) in enumerate(zip(a, b)):
        for key in x:
            assert x[key].dtype == y[key].dtype, (t, key)
            np.testing.assert_allclose(y[key], x[key], rtol=0, atol=1e-9, err_msg=f"step {t}, {key}")


def test_torch_arrays_train_through_rsl_rls_contract():
    env = RslRlRotationEnv(RotationEnv(EnvConfig(num_envs=4, episode_steps=5, arrays="torch", nthread=1)))
    obs = env.get_observations()
    assert obs["policy"].shape == (4, 225) and obs["policy"].dtype == torch.float32
    for _ in range(6):
        obs, reward, done, extras = env.step(torch.zeros(4, 16))
    assert done.dtype == torch.bool and reward.shape == (4,) and torch.is_tensor(extras["log"]["/task/drop_rate"])
    assert env.episode_length_buf.max() <= 5


@pytest.mark.slow
def test_warp_steps_read_nothing_back_but_the_indices_of_resets(monkeypatch):
    env = RotationEnv(EnvConfig(num_envs=4, episode_steps=400, backend="warp", arrays="torch", seed=2))
    assert env.state.dtype == torch.float32 and env.state.device == torch.device(str(env.stepper.device))
    reads: list[int] = []
    for name in ("cpu", "numpy", "item", "tolist", "__array__"):
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _original=original, **kwargs):
            reads.append(self.numel())
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, spy)
    steps = 12
    for _ in range(steps):
        obs, reward, done, info = env.step(torch.zeros(4, 16, device=env.state.device))
        assert not done.any()
    # per step, one copy to the host (.cpu().numpy()) of the indices of resets: here none
    assert len(reads) == 2 * steps and sum(reads) == 0
    assert torch.isfinite(obs["oracle"]).all() and obs["oracle"].device == env.state.device


def test_unknown_array_kind_is_refused_with_the_field_name():
    with pytest.raises(ValueError, match="env.arrays.*'jax'"):
        EnvConfig(arrays="jax")
