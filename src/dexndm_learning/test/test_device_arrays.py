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
    for _ in range(5):
        obs, reward, done, extras = env.step(torch.zeros(4, 16))
    assert done.dtype == torch.bool and reward.shape == (4,) and torch.is_tensor(extras["log"]["/task/drop_rate"])
    assert extras["time_outs"].any()
    assert (env.episode_length_buf[extras["time_outs"]] == 0).all()         # the length of the episode now running
    assert torch.equal(env.episode_length_buf, env.env.episode_length.long())


def _spy_reads(monkeypatch) -> list[int]:
    """Sizes of the tensors read back to the host from now on."""
    reads: list[int] = []
    for name in ("cpu", "numpy", "item", "tolist", "__array__", "__bool__", "__int__", "__float__"):
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _original=original, **kwargs):
            reads.append(self.numel())
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, spy)
    return reads


@pytest.fixture(scope="module")
def warp_env():
    """MuJoCo Warp with torch arrays, 3-step episodes (every world starts anew each third step), a
    reality profile and training randomization on; stepped 7 times."""
    env = RotationEnv(EnvConfig(num_envs=6, episode_steps=3, backend="warp", arrays="torch", reality="worn_hand",
                                object_set="normal_cylinders", seed=2))
    return env


@pytest.mark.slow
def test_warp_steps_and_resets_read_nothing_back_from_the_device(warp_env, monkeypatch):
    env = warp_env
    assert env.state.dtype == torch.float32 and env.state.device == torch.device(str(env.stepper.device))
    assert env.device_resets is not None
    before = env.axis_world.clone()
    reads = _spy_reads(monkeypatch)
    dones = []
    for _ in range(7):
        obs, reward, done, info = env.step(torch.zeros(6, 16, device=env.state.device))
        dones.append(done)
    assert reads == []
    monkeypatch.undo()
    assert int(torch.stack(dones).sum()) == 12                 # every world started anew at steps 3 and 6
    assert torch.isfinite(obs["oracle"]).all() and torch.isfinite(reward).all()
    assert (env.episode_length == 1).all() and (env.resets == 2).all()
    assert not torch.equal(before, env.axis_world) or len(env.axes) == 1


@pytest.mark.slow
def test_device_resets_start_from_a_cached_grasp_in_a_randomized_world_as_the_host_would(warp_env):
    """After device resets: each world's state is one of its object's grasps, its randomized
    parameters lie in the configured ranges around the profile, the constants ``set_const`` derived
    equal ``mj_setConst`` on a host model with the same parameters, the wrist's gravity and frame
    agree, and the observation history restarts at the grasp."""
    import copy

    import mujoco

    from dexndm_learning.sim import reality
    from dexndm_learning.sim.wrist import from_wxyz, gravity_in_hand

    env, r = warp_env, warp_env.cfg.randomization
    for _ in range(3 - int(env.episode_length[0])):          # land exactly on a reset
        env.step(torch.zeros(6, 16, device=env.state.device))
    assert (env.episode_length == 0).all()
    state = env.state.cpu().numpy()
    b = env.obj_body
    for i in range(env.num_envs):
        k = env.obj_of_env[i]
        grasps = np.concatenate([gs.states for gs in env.grasps[k]])
        assert np.abs(grasps - state[i]).max(axis=1).min() < 1e-6
        fam = env.stepper.families[env.stepper.family_of_env[i]]
        w = env.stepper.world_of_env[i]
        warp = {f: getattr(fam.model, f).numpy()[w] for f in ("body_mass", "body_inertia", "geom_friction",
                                                              "actuator_gainprm", "actuator_biasprm",
                                                              "body_invweight0", "dof_invweight0", "actuator_acc0")}
        host = copy.copy(env.base_models[k])
        reality.apply_profile(host, env.profile, env.nominals[k], mujoco.MjData(host))
        kp0, kd0 = host.actuator_gainprm[:16, 0].copy(), -host.actuator_biasprm[:16, 2].copy()
        assert r.object_mass[0] <= warp["body_mass"][b] <= r.object_mass[1]
        geoms = host.geom_bodyid == b
        assert np.all((r.object_friction[0] <= warp["geom_friction"][geoms, 0])
                      & (warp["geom_friction"][geoms, 0] <= r.object_friction[1]))
        kp_scale, kd_scale = warp["actuator_gainprm"][:16, 0] / kp0, -warp["actuator_biasprm"][:16, 2] / kd0
        assert np.all((r.kp_scale[0] - 1e-5 <= kp_scale) & (kp_scale <= r.kp_scale[1] + 1e-5))
        assert np.all((r.kd_scale[0] - 1e-5 <= kd_scale) & (kd_scale <= r.kd_scale[1] + 1e-5))
        for f in ("body_mass", "body_inertia", "geom_friction", "actuator_gainprm", "actuator_biasprm"):
            getattr(host, f)[:] = warp[f]
        mujoco.mj_setConst(host, mujoco.MjData(host))
        for f in ("body_invweight0", "dof_invweight0", "actuator_acc0"):
            np.testing.assert_allclose(warp[f], getattr(host, f), rtol=2e-3, atol=1e-6, err_msg=f)
        wrist = env.wrist[i].cpu().numpy()
        gravity = fam.model.opt.gravity.numpy()[w]
        np.testing.assert_allclose(gravity, gravity_in_hand(wrist), atol=1e-4)
        np.testing.assert_allclose(env.axis_hand[i].cpu().numpy(),
                                   from_wxyz(wrist).inv().apply(env.axis_world[i].cpu().numpy()), atol=1e-5)
        q = state[i, env._q_cols.cpu().numpy()]
        bias = np.asarray(env.profile.sensor_bias)
        np.testing.assert_allclose(env.q_hist[i].cpu().numpy(), np.broadcast_to(q + bias, (env.cfg.history, 16)),
                                   atol=0.02)                 # worn_hand's encoder noise
        np.testing.assert_allclose(env.a_hist[i, -1].cpu().numpy(), env.targets[i].cpu().numpy())


def test_unknown_array_kind_is_refused_with_the_field_name():
    with pytest.raises(ValueError, match="env.arrays.*'jax'"):
        EnvConfig(arrays="jax")


def test_a_diverged_world_is_left_out_of_the_reward_logs_even_when_its_terms_are_nan():
    env = RslRlRotationEnv(RotationEnv(EnvConfig(num_envs=4, episode_steps=5, arrays="torch", nthread=1)))
    step = env.env.step

    def diverging(actions):
        obs, reward, done, info = step(actions)
        nan_first = torch.tensor([float("nan"), 1.0, 1.0, 1.0], dtype=torch.float64)
        for name in info["terms"].__dataclass_fields__:
            setattr(info["terms"], name, getattr(info["terms"], name).clone() * nan_first)
        info["unstable"] = torch.tensor([True, False, False, False])
        return obs, reward, done, info
    env.env.step = diverging
    log = env.step(torch.zeros(4, 16))[3]["log"]
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log.values())
    assert float(log["/task/unstable_rate"]) == 0.25


@pytest.mark.slow
def test_without_randomization_device_resets_leave_the_profiles_world_as_it_is():
    from dexndm_learning.sim.rotation_env import RandomizationConfig

    env = RotationEnv(EnvConfig(num_envs=2, episode_steps=2, backend="warp", arrays="torch", reality="worn_hand",
                                object_set="normal_cylinders", seed=3, randomization=RandomizationConfig(enabled=False)))
    fields = ("body_mass", "body_inertia", "geom_friction", "actuator_gainprm", "actuator_biasprm", "body_invweight0")
    before = [{f: getattr(fam.model, f).numpy().copy() for f in fields} for fam in env.stepper.families]
    for _ in range(4):                                         # two device resets of every world
        env.step(torch.zeros(2, 16, device=env.state.device))
    assert (env.resets == 2).all()
    for fam, saved in zip(env.stepper.families, before):
        for f in fields:
            np.testing.assert_array_equal(getattr(fam.model, f).numpy(), saved[f], err_msg=f)
