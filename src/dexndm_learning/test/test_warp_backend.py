"""The MuJoCo Warp physics backend (``env.backend: warp``) against the C MuJoCo threads, on CPU.

Float32 and a different collision/solver path give statistical, not per-trajectory, agreement,
so the checks are: the same parameters in every world, the same first step to float32 contact
noise, and the same holding and rotation statistics of the committed specialist (a). CI runs
16 worlds x 200 steps; ``-m warpparity`` runs 32 worlds x 400 steps, both senses, three seeds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_learning.rl.evaluate import episode_metrics, run_episodes, specialist_actor
from dexndm_learning.sim import objects, sensors
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv, build_object_model
from dexndm_learning.sim.warp_stepper import BATCHED_FIELDS, WarpStepper

SPECIALIST = Path(__file__).resolve().parents[3] / "models" / "specialists" / "cyl_palm_up"


def _env(backend: str, n: int, seed: int = 3, **kw) -> RotationEnv:
    return RotationEnv(EnvConfig(num_envs=n, backend=backend, seed=seed, disturbance_prob=0.0, **kw))


def test_cylinders_share_one_warp_model_and_each_world_gets_its_own_parameters():
    env = _env("warp", 12, reality="worn_hand")
    stepper = env.stepper
    assert len(env.objects) > 1 and len(stepper.families) == 1     # every size of one shape: one model
    fam = stepper.families[0]
    env.reset(np.array([1, 4, 7]))                                  # fresh randomization in three worlds
    for name in BATCHED_FIELDS:
        device = stepper._t(getattr(fam.model, name)).cpu().numpy()
        for i in range(env.num_envs):
            mine = np.asarray(getattr(env.models[i], name)).reshape(device.shape[1:])
            np.testing.assert_allclose(device[stepper.world_of_env[i]], mine, rtol=1e-6, atol=1e-7, err_msg=name)
    gravity = stepper._t(fam.model.opt.gravity).cpu().numpy()
    np.testing.assert_allclose(gravity, np.array([m.opt.gravity for m in env.models]), rtol=1e-6)


def test_worlds_of_different_shapes_get_their_own_warp_models():
    hand = HandConfig.load("hand", {})
    cyl, cub = objects.object_set("normal_cylinders")[:2], objects.object_set("normal_cuboids")[:1]
    models = [build_object_model(hand, o) for o in (cyl[0], cub[0], cyl[1], cub[0])]
    stepper = WarpStepper(models, substeps=1, force_body=models[0].body("object").id)
    assert [list(f.envs) for f in stepper.families] == [[0, 2], [1, 3]]
    assert list(stepper.world_of_env) == [0, 0, 1, 1]
    states = np.zeros((4, stepper.nstate))
    for i, m in enumerate(models):
        states[i, 1:1 + m.nq] = m.qpos0
    sens = stepper.set_states(np.arange(4), states, np.zeros((4, 16)))
    obj_z = sens[:, sensors.sensor_layout().obj_pos][:, 2]
    np.testing.assert_allclose(obj_z, [m.body_pos[m.body("object").id][2] for m in models], atol=1e-6)


# Joint (rad) and object (m) error after two control steps, float32 Warp vs C. v1 (capsule and box
# tips): under 3e-3 rad and 0.5 mm. v2 (ellipsoid fingertip pads) measured 0.025 rad on one joint
# and 1.6 mm: a weaker parity, not yet measured statistically (the -m warpparity check runs the v1
# specialist); these bounds still catch a wrong state layout or parameter (tenths of a rad, cm).
FIRST_STEP_ATOL = {"v1": (3e-3, 5e-4), "v2": (5e-2, 5e-3)}


@pytest.mark.parametrize("version", sorted(FIRST_STEP_ATOL))
def test_first_control_step_matches_c_mujoco_to_float32_contact_noise(version):
    hand = {"hand_overrides": {"version": version}}
    c, w = _env("mujoco", 8, **hand), _env("warp", 8, **hand)
    np.testing.assert_array_equal(c.state, w.state)
    lay = c.layout
    np.testing.assert_allclose(w.sens[:, lay.obj_pos], c.sens[:, lay.obj_pos], atol=1e-6)
    zero = np.zeros((8, 16))
    for _ in range(2):
        _, rc, _, ic = c.step(zero)
        _, rw, _, iw = w.step(zero)
    q_atol, obj_atol = FIRST_STEP_ATOL[version]
    assert np.abs(iw["q"] - ic["q"]).max() < q_atol
    assert np.abs(iw["obj_pos"] - ic["obj_pos"]).max() < obj_atol
    assert torch.is_tensor(w.stepper._t(w.stepper.families[0].data.qpos))


def _holding(backend: str, n: int, steps: int, seed: int) -> tuple[float, float]:
    env = _env(backend, n, seed, episode_steps=steps + 1)
    start = env.sens[:, env.layout.obj_pos].copy()
    dropped = np.zeros(n, dtype=bool)
    for _ in range(steps):
        dropped |= env.step(np.zeros((n, 16)))[3]["dropped"]
    drift = np.linalg.norm(env.sens[:, env.layout.obj_pos] - start, axis=1)
    return float(dropped.mean()), float(np.median(drift[~dropped]))


def _rotation(backend: str, n: int, steps: int, seed: int, axis_set: str) -> dict[str, float]:
    env, act = specialist_actor(SPECIALIST, n, seed, {"backend": backend, "axis_set": axis_set})
    return {k: float(v.mean()) for k, v in episode_metrics(run_episodes(env, act, steps)).items()}


def _check_parity(n: int, steps: int, seeds, axis_sets) -> None:
    for seed in seeds:
        (drop_c, drift_c), (drop_w, drift_w) = (_holding(b, n, steps // 2, seed) for b in ("mujoco", "warp"))
        assert abs(drop_w - drop_c) <= 2 / n, (seed, drop_c, drop_w)
        assert abs(drift_w - drift_c) < 1.5e-3, (seed, drift_c, drift_w)
        for axis_set in axis_sets:
            c, w = (_rotation(b, n, steps, seed, axis_set) for b in ("mujoco", "warp"))
            print(f"seed {seed} {axis_set}: hold dropped {drop_c:.3f} / {drop_w:.3f}, drift {1e3 * drift_c:.2f} / "
                  f"{1e3 * drift_w:.2f} mm; RotR {c['RotR']:.1f} / {w['RotR']:.1f}, TTF {c['TTF']:.3f} / {w['TTF']:.3f} "
                  "(C / Warp)")
            # Measured (16 worlds x 200 steps, -z, seeds 0-2): Warp RotR 1.07-1.19x C's, TTF +0.03-0.09.
            assert 0.7 < w["RotR"] / c["RotR"] < 1.35, (seed, axis_set, c, w)
            assert abs(w["TTF"] - c["TTF"]) < 0.15, (seed, axis_set, c, w)


@pytest.mark.slow
def test_holding_and_the_specialists_rotation_agree_with_c_mujoco():
    _check_parity(16, 200, seeds=[0], axis_sets=["-z"])


@pytest.mark.warpparity
def test_holding_and_the_specialists_rotation_agree_with_c_mujoco_full():
    _check_parity(32, 400, seeds=[0, 1, 2], axis_sets=["-z", "+z"])


def test_unknown_backend_is_refused_with_the_field_name():
    with pytest.raises(ValueError, match="env.backend.*'gpu'"):
        _env("gpu", 2)


@pytest.mark.parametrize("arrays", ["numpy", "torch"])
def test_a_specialist_trains_and_resumes_on_the_warp_backend(tmp_path, arrays):
    from dexndm_learning.rl.specialist import PPOConfig, SpecialistConfig, train

    cfg = SpecialistConfig(env=EnvConfig(num_envs=8, episode_steps=20, backend="warp", arrays=arrays),
                           ppo=PPOConfig(steps_per_env=8, actor_hidden=[32], critic_hidden=[32]),
                           iterations=2, checkpoint_minutes=60.0)
    train(cfg, tmp_path / "run")
    assert SpecialistConfig.load(str(tmp_path / "run" / "config.yaml")).env.backend == "warp"
    summary = train(cfg, tmp_path / "run", resume=True, iterations=3)
    assert summary["iteration"] == 2 and summary["env_steps"] == 3 * 8 * 8
    # evaluations read numpy, whatever the run trained with
    env, act = specialist_actor(tmp_path / "run", 4, 0)
    assert env.cfg.backend == "warp" and isinstance(env.state, np.ndarray)
    _, reward, _, _ = env.step(act(env.observations()))
    assert reward.shape == (4,) and np.isfinite(reward).all()
