import dataclasses

import mujoco
import numpy as np
import pytest

from dexndm_learning import joint_order as jo
from dexndm_learning.sim import metrics
from dexndm_learning.sim.axes import axis_group, axis_set, general_axes
from dexndm_learning.sim.hand_model import FINGERTIP_BODIES, GRASP_CENTRE_IN_HAND, HandConfig, hand_spec, joint_qpos_addr
from dexndm_learning.sim.rotation_env import CurriculumConfig, EnvConfig, RandomizationConfig, RotationEnv
from dexndm_learning.sim.rotation_reward import RewardConfig, quat_angle, reward_terms, rotate_quat_about
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.wrist import NAMED_WRISTS, from_wxyz


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def quiet_env(wrist="palm_up", n=16, grasp=None, **kw):
    cfg = EnvConfig(num_envs=n, wrists=[wrist], disturbance_prob=0.0, joint_noise=0.0,
                    randomization=RandomizationConfig(enabled=False), grasp=grasp or GraspConfig(candidates=32), **kw)
    return RotationEnv(cfg)


def test_grasp_centre_is_equidistant_from_the_fingertips():
    """On v1, where the canonical grasp was designed (v2's tip sites, at the pads' contact centres,
    lie 37-51 mm from it)."""
    cfg = HandConfig(version="v1")
    model = hand_spec(cfg).compile()
    data = mujoco.MjData(model)
    data.qpos[joint_qpos_addr(model)] = jo.CANONICAL_GRASP
    mujoco.mj_forward(model, data)
    tips = np.array([data.site_xpos[model.site(f"{b}_tip").id] for b in FINGERTIP_BODIES])
    d = np.linalg.norm(tips - (np.array(cfg.mount_pos) + GRASP_CENTRE_IN_HAND), axis=1)
    np.testing.assert_allclose(d, 0.05, atol=0.002)


@pytest.mark.parametrize("wrist", NAMED_WRISTS)
def test_grasped_object_stays_2s_and_falls_when_the_hand_opens(wrist):
    env = quiet_env(wrist)
    held = np.ones(env.num_envs, bool)
    for _ in range(40):                                   # 2 s at 20 Hz, targets held
        _, _, _, info = env.step(np.zeros((env.num_envs, 16)))
        held &= ~info["dropped"]
    assert held.mean() >= 0.9, f"{wrist}: only {held.mean():.0%} of grasps held for 2 s"
    env.reset(np.arange(env.num_envs))
    fell = np.zeros(env.num_envs, bool)
    for _ in range(40):
        # Open the hand: push every target toward the flat pose at the action limit. Palm up the
        # object then rests on the palm, more than drop_distance below where it was held.
        _, _, _, info = env.step(-np.sign(env.targets - jo.OPEN_POSE))
        fell |= info["dropped"]
    assert fell.mean() >= 0.9, f"{wrist}: only {fell.mean():.0%} fell from the open hand"


def test_goal_rotation_is_scipys_world_frame_composition_on_numpy_and_torch():
    import torch
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    xyzw = Rotation.random(40, random_state=1).as_quat()
    quat = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1)
    axis = rng.normal(size=(40, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = rng.uniform(-3, 3, 40)
    expected = (Rotation.from_rotvec(axis * angle[:, None]) * Rotation.from_quat(xyzw)).as_quat()
    expected = np.concatenate([expected[:, 3:], expected[:, :3]], axis=1)
    got = rotate_quat_about(quat, axis, angle)
    np.testing.assert_allclose(quat_angle(got, expected), 0.0, atol=1e-6)
    np.testing.assert_allclose(quat_angle(got, quat), np.abs(angle), atol=1e-6)
    on_torch = rotate_quat_about(*(torch.as_tensor(x) for x in (quat, axis, angle)))
    np.testing.assert_allclose(on_torch.numpy(), got, atol=1e-12)


def test_rotation_reward_sign_follows_the_axis():
    cfg = RewardConfig()
    k = np.array([[0.0, 0.0, 1.0]])
    z = np.zeros((1, 16))
    args = dict(lin_vel=np.zeros((1, 3)), q=z, q_init=z, tau=z, qdot=z, goal_diff=np.array([1.0]))
    assert reward_terms(cfg, omega=np.array([[0, 0, 0.3]]), axis=k, **args).rot[0] == pytest.approx(0.3)
    assert reward_terms(cfg, omega=np.array([[0, 0, -0.3]]), axis=k, **args).rot[0] == pytest.approx(-0.3)
    assert reward_terms(cfg, omega=np.array([[0, 0, 3.0]]), axis=k, **args).rot[0] == pytest.approx(0.5)  # capped


def test_linear_velocity_penalty_is_squared_by_default_and_l1_on_request():
    """The paper writes |v|^2; RotateIt's code penalizes |v|_1, ~30x more at 3 cm/s."""
    z = np.zeros((1, 16))
    args = dict(omega=np.zeros((1, 3)), axis=np.array([[0.0, 0.0, 1.0]]), lin_vel=np.array([[0.03, -0.01, 0.0]]),
                q=z, q_init=z, tau=z, qdot=z, goal_diff=np.array([1.0]))
    assert reward_terms(RewardConfig(), **args).lin[0] == pytest.approx(0.001)
    assert reward_terms(RewardConfig(lin_norm="l1"), **args).lin[0] == pytest.approx(0.04)
    with pytest.raises(ValueError, match="lin_norm"):
        reward_terms(RewardConfig(lin_norm="l2"), **args)


def test_position_term_penalizes_distance_from_the_start_only_when_weighted():
    z = np.zeros((2, 16))
    args = dict(omega=np.zeros((2, 3)), axis=np.tile([0.0, 0.0, 1.0], (2, 1)), lin_vel=np.zeros((2, 3)), q=z,
                q_init=z, tau=z, qdot=z, goal_diff=np.ones(2),
                distance=np.linalg.norm([[0.03, -0.04, 0.0], [0, 0, 0]], axis=1))
    terms = reward_terms(RewardConfig(), **args)
    np.testing.assert_allclose(terms.pos, [0.05, 0.0])
    off, on = terms.total(RewardConfig(), 0.0), terms.total(RewardConfig(a_pos=4.0), 0.0)
    np.testing.assert_allclose(on - off, [-0.2, 0.0])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_env_rewards_spinning_about_plus_k_and_penalizes_minus_k(sign):
    """Spin the object in the simulator about +k (or -k) and read the env's rotation term."""
    env = quiet_env("palm_up", n=4)
    nq = env.models[0].nq
    for i in range(env.num_envs):
        env.models[i].opt.gravity[:] = 0.0
        # Lift the object clear of the fingers and set its angular velocity (world frame).
        env.state[i, 1 + env.obj_qadr + 2] += 0.2
        dof = 1 + nq + env.models[0].jnt_dofadr[env.models[0].body("object").jntadr[0]]
        env.state[i, dof + 3:dof + 6] = 0.0
        rot_body = env.state[i, 1 + env.obj_qadr + 3:1 + env.obj_qadr + 7]
        env.state[i, dof + 3:dof + 6] = from_wxyz(rot_body).inv().apply(sign * 0.4 * env.axis_hand[i])
        env.stepper.set_state(i, env.state[i], env.targets[i])
    _, _, _, info = env.step(np.zeros((env.num_envs, 16)))
    assert np.all(np.sign(info["terms"].rot) == sign)
    np.testing.assert_allclose(info["terms"].rot, sign * 0.4, atol=0.02)


def test_metrics_on_synthetic_trajectories():
    t = 400
    axis = np.array([[0, 0, 1.0], [1.0, 0, 0]])
    omega = np.zeros((2, t, 3))
    omega[0, :, 2] = 0.8                       # about the axis
    omega[1, :, 0] = 0.5
    omega[1, :, 1] = 0.3                       # plus an off-axis component
    alive = np.ones((2, t), bool)
    alive[1, 200:] = False                     # second object falls after 10 s
    np.testing.assert_allclose(metrics.rot_reward(omega, axis, alive), [0.8 * 400, 0.5 * 200])
    np.testing.assert_allclose(metrics.time_to_fall(alive), [1.0, 0.5])
    np.testing.assert_allclose(metrics.rot_penalty(omega, axis, alive), [0.0, 0.3])
    np.testing.assert_allclose(metrics.rotation_radians(omega, axis, alive), [0.8 * 20, 0.5 * 10])
    assert list(metrics.goal_success([0.2, 0.4])) == [True, False]


def test_axis_sets():
    g = general_axes()
    assert g.shape == (26, 3)
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0)
    assert min(1 - np.abs(g @ np.eye(3)).max(axis=1)) > 0.05   # none is a principal axis
    assert axis_set("xyz").shape == (6, 3) and axis_set("z").tolist() == [[0, 0, 1], [0, 0, -1]]
    assert {axis_group(a) for a in axis_set("xyz")} == {"+-x", "+-y", "+-z"}
    assert axis_group(g[0]) == "general"


def test_observation_groups_have_documented_sizes():
    env = quiet_env(n=4)
    obs = env.observations()
    assert obs["proprio"].shape == (4, 10 * 32 + 4 + 3)
    assert obs["oracle"].shape == (4, 225)
    assert all(np.isfinite(v).all() for v in obs.values())


@pytest.mark.parametrize("field,value,valid", [
    ("wrists", ["palm_sideways"], "palm_down"),
    ("axis_set", "diagonal", "general"),
    ("object_set", "teapots", "normal_cylinders"),
    ("hand_overrides", {"palm": "round"}, "published"),
])
def test_bad_names_list_valid_choices(field, value, valid):
    cfg = dataclasses.replace(EnvConfig(num_envs=2), **{field: value})
    with pytest.raises(ValueError, match=valid):
        RotationEnv(cfg)


def test_hand_overrides_reach_the_simulated_hand():
    env = quiet_env("palm_up", n=2, hand_overrides={"palm": "published"})
    model = env.base_models[0]
    assert env.hand_cfg.palm == "published"
    assert int(np.sum(model.geom_bodyid == model.body("palm").id)) == 10


def test_goal_oriented_evaluation_succeeds_only_when_the_goal_is_reached():
    from dexndm_learning.rl.evaluate import run_goal_episodes

    env = quiet_env("palm_up", n=4, episode_steps=5)
    ok = run_goal_episodes(env, lambda obs: np.zeros((4, 16)), np.random.default_rng(0))
    assert ok.shape == (4,) and not ok.any()          # holding still never reaches a 90-180 deg goal
    # The command follows the remaining relative rotation: unit axes in the world frame.
    np.testing.assert_allclose(np.linalg.norm(env.axis_world, axis=1), 1.0)


def test_objects_without_a_stable_grasp_are_left_out_and_named(monkeypatch):
    from dexndm_learning.sim import grasps as grasp_mod

    real = grasp_mod.grasps_for

    def no_grasp_for_the_first(model, hand_cfg, obj, index, *args):
        g = real(model, hand_cfg, obj, index, *args)
        return grasp_mod.GraspSet(g.states[:0], g.targets[:0], g.wrists[:0]) if index == 0 else g

    monkeypatch.setattr(grasp_mod, "grasps_for", no_grasp_for_the_first)
    with pytest.warns(UserWarning, match="cylinder_00"):
        env = quiet_env(n=4)
    assert env.skipped_objects == ["cylinder_00"]
    assert "cylinder_00" not in [o.name for o in env.objects] and len(env.objects) == 8


def test_gravity_curriculum_only_applies_while_a_trainer_drives_it():
    env = quiet_env(n=4, curriculum=CurriculumConfig(gravity_start=0.2, gravity_full_steps=1000))
    g = lambda: np.linalg.norm(env.models[0].opt.gravity)  # noqa: E731
    assert env.gravity_scale() == 1.0 and g() == pytest.approx(9.81)      # evaluation, data collection
    for steps, scale in [(0, 0.2), (500, 0.6), (1000, 1.0), (5000, 1.0)]:
        env.training_steps = steps
        env.reset(np.arange(4))
        assert env.gravity_scale() == pytest.approx(scale)
        assert g() == pytest.approx(9.81 * scale)


def test_evaluation_reports_each_sense_of_a_principal_axis():
    from dexndm_learning.rl.evaluate import EpisodeRecord, summarize
    from dexndm_learning.sim.axes import axis_direction

    assert axis_direction([0, 0, -1]) == "-z" and axis_direction(general_axes()[0]) is None
    n, t = 4, 10
    axis = np.array([[0, 0, 1], [0, 0, 1], [0, 0, -1], [0, 0, -1]], float)
    omega = np.zeros((n, t, 3))
    omega[2:, :, 2] = -1.0                     # turns about -z at 1 rad/s, holds still about +z
    rec = EpisodeRecord(omega, axis, axis, np.ones((n, t), bool), np.tile([1.0, 0, 0, 0], (n, 1)))
    s = summarize([rec])
    assert list(s) == ["+-z", "+z", "-z", "all"]
    assert s["-z"]["RotR"][0] == pytest.approx(10.0) and s["+z"]["RotR"][0] == 0.0
    assert s["+-z"]["RotR"][0] == pytest.approx(5.0) == s["all"]["RotR"][0]


def test_evaluation_reports_each_named_wrist_when_several_are_evaluated():
    from dexndm_learning.rl.evaluate import EpisodeRecord, summarize
    from dexndm_learning.sim.wrist import wrist_name, wrist_quat

    assert wrist_name(wrist_quat("thumb_down")) == "thumb_down" and wrist_name([0.9, 0.1, 0.3, 0.3]) is None
    n, t = 4, 10
    axis = np.array([[0, 0, 1], [0, 0, 1], [1, 0, 0], [1, 0, 0]], float)
    omega = np.zeros((n, t, 3))
    omega[0, :, 2] = 2.0                       # palm up turns its +z object; palm down turns nothing
    wrists = np.array([wrist_quat("palm_up"), wrist_quat("palm_down")] * 2)
    s = summarize([EpisodeRecord(omega, axis, axis, np.ones((n, t), bool), wrists)])
    assert s["palm_up +-z"]["RotR"][0] == pytest.approx(20.0) and s["palm_down +-z"]["RotR"][0] == 0.0
    assert {"palm_up +-x", "palm_down +-x"} <= set(s) and list(s)[-1] == "all"
    one_wrist = summarize([EpisodeRecord(omega, axis, axis, np.ones((n, t), bool), np.tile(wrist_quat("palm_up"), (n, 1)))])
    assert not any(" " in k for k in one_wrist)


def _moved_object_dropped(training: bool, stray: float, shift: float = 0.04) -> np.ndarray:
    """Move the object ``shift`` m up (gravity off, so it stays there) and report ``dropped``."""
    env = quiet_env(n=4, curriculum=CurriculumConfig(stray_distance=stray))
    env.training_steps = 0 if training else None
    for i in range(env.num_envs):
        env.models[i].opt.gravity[:] = 0.0
        env.state[i, 1 + env.obj_qadr + 2] += shift
        env.stepper.set_state(i, env.state[i], env.targets[i])
    _, _, _, info = env.step(np.zeros((env.num_envs, 16)))
    return info["dropped"]


def test_stray_termination_ends_training_episodes_only():
    assert _moved_object_dropped(training=True, stray=0.02).all()
    assert not _moved_object_dropped(training=False, stray=0.02).any()    # evaluation: 6 cm fall only
    assert not _moved_object_dropped(training=True, stray=0.0).any()


def test_axis_balancing_samples_the_axis_that_drops_more_often_and_only_in_training():
    env = quiet_env(n=8, axis_set="z", curriculum=CurriculumConfig(balance_axes_ema=0.5))
    np.testing.assert_allclose(env.axis_probabilities(), [0.5, 0.5])   # not driven by a trainer
    env.training_steps = 0
    i_plus = np.flatnonzero((env.axes == [0, 0, 1]).all(1))[0]
    env.axis_index[:2] = [i_plus, 1 - i_plus]
    env.episode_length[:2] = [40, 400]                 # +z dropped after 2 s, -z ran to the end
    env._record_axis_ttf(np.arange(2))
    assert env.axis_ttf[i_plus] == pytest.approx(0.3) and env.axis_ttf[1 - i_plus] == pytest.approx(0.75)
    p = env.axis_probabilities()
    assert p[i_plus] == pytest.approx(0.8 / 1.15)
    env.reset(np.arange(8))
    picks = []
    for _ in range(50):
        env.reset(np.arange(8))
        picks.append(env.axis_index.copy())
    assert np.mean(np.concatenate(picks) == i_plus) == pytest.approx(p[i_plus], abs=0.08)


def test_grasp_cache_says_when_it_simulates_and_reuses_the_stored_set(capsys):
    from dexndm_learning.sim import grasps

    calls = []

    def make():
        calls.append(1)
        return grasps.GraspSet(states=np.zeros((3, 5)), targets=np.zeros((3, 16)), wrists=np.zeros((3, 4)))

    first = grasps.cached(["test-key", 1], make, "cylinder_00, wrist palm_up")
    assert "simulating cylinder_00, wrist palm_up" in capsys.readouterr().err
    again = grasps.cached(["test-key", 1], make, "cylinder_00, wrist palm_up")
    assert calls == [1] and capsys.readouterr().err == ""
    np.testing.assert_array_equal(again.targets, first.targets)


def test_a_start_centre_offset_puts_the_object_lower_in_the_hand():
    palm_start = quiet_env(n=32, grasp=GraspConfig(candidates=32, centre_offset=(-0.02, 0.0, -0.03)))
    canonical = quiet_env(n=32)
    # obj_pos in the step info is relative to the canonical grasp centre, in the hand frame
    low = palm_start.step(np.zeros((32, 16)))[3]["obj_pos"]
    high = canonical.step(np.zeros((32, 16)))[3]["obj_pos"]
    assert np.median(low[:, 2]) < np.median(high[:, 2]) - 0.02
    assert np.median(low[:, 0]) < np.median(high[:, 0]) - 0.005


def test_grasp_cache_key_of_the_default_start_is_unchanged_by_the_offset_field():
    from dexndm_learning.sim.grasps import _key_repr

    # grasp sets cached before centre_offset existed were keyed by this repr
    assert _key_repr(GraspConfig()) == ("GraspConfig(candidates=128, pose_noise=0.05, open_by=0.25, "
                                        "squeeze=(0.15, 0.45), close_time=0.5, hold_time=5.0, max_slip=0.01, "
                                        "max_offset=0.04)")
    assert "centre_offset" in _key_repr(GraspConfig(centre_offset=(0.0, 0.0, -0.03)))
    assert "object_orientation='upright'" in _key_repr(GraspConfig(object_orientation="upright"))


@pytest.mark.parametrize("wrist", NAMED_WRISTS)
def test_upright_start_orientations_point_the_object_axis_against_gravity(wrist):
    from dexndm_learning.sim.grasps import start_orientations
    from dexndm_learning.sim.wrist import gravity_in_hand, wrist_quat

    quats = start_orientations(np.tile(wrist_quat(wrist), (64, 1)), "upright", np.random.default_rng(0))
    up = -gravity_in_hand(wrist) / np.linalg.norm(gravity_in_hand(wrist))
    axes = np.stack([from_wxyz(q).apply([0.0, 0.0, 1.0]) for q in quats])
    np.testing.assert_allclose(axes, np.tile(up, (64, 1)), atol=1e-9)
    x_axes = np.stack([from_wxyz(q).apply([1.0, 0.0, 0.0]) for q in quats])
    assert np.linalg.norm(x_axes.mean(axis=0)) < 0.3          # turned at random about that axis


@pytest.mark.parametrize("wrist", ["palm_up", "thumb_up", "base_down"])
def test_axis_start_orientations_point_the_object_axis_along_a_world_direction(wrist):
    from dexndm_learning.sim.grasps import start_orientations
    from dexndm_learning.sim.wrist import wrist_quat, wrist_rotation

    world = np.array([1.0, 2.0, 0.0]) / np.sqrt(5.0)
    quats = start_orientations(np.tile(wrist_quat(wrist), (64, 1)), "axis", np.random.default_rng(0), world * 3)
    in_world = np.stack([(wrist_rotation(wrist) * from_wxyz(q)).apply([0.0, 0.0, 1.0]) for q in quats])
    np.testing.assert_allclose(in_world, np.tile(world, (64, 1)), atol=1e-9)
    x_axes = np.stack([from_wxyz(q).apply([1.0, 0.0, 0.0]) for q in quats])
    assert np.linalg.norm(x_axes.mean(axis=0)) < 0.3


def test_the_axis_start_along_world_z_is_the_upright_start():
    from dexndm_learning.sim.grasps import start_orientations
    from dexndm_learning.sim.wrist import random_wrist_quats

    wrists = random_wrist_quats(16, np.random.default_rng(1))
    up = start_orientations(wrists, "upright", np.random.default_rng(2))
    axis = start_orientations(wrists, "axis", np.random.default_rng(2), (0.0, 0.0, 1.0))
    np.testing.assert_allclose(np.abs(np.sum(up * axis, axis=1)), 1.0, atol=1e-9)


def test_an_object_axis_is_a_direction_used_only_with_the_axis_start():
    from dexndm_learning.sim.grasps import _key_repr, start_suffix

    assert "object_axis" not in _key_repr(GraspConfig(object_orientation="upright"))
    cfg = GraspConfig(object_orientation="axis", object_axis=(1.0, 0.0, 0.0))
    assert "object_axis=(1.0, 0.0, 0.0)" in _key_repr(cfg) and start_suffix(cfg) == ", start along 1/0/0"
    with pytest.raises(ValueError, match="object_axis.*not a direction"):
        GraspConfig(object_orientation="axis", object_axis=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="object_axis is used only with object_orientation: axis"):
        GraspConfig(object_orientation="upright", object_axis=(1.0, 0.0, 0.0))


def test_random_start_orientations_are_the_draws_grasp_sets_were_cached_with():
    from dexndm_learning.sim.grasps import start_orientations

    quats = start_orientations(np.tile([1.0, 0, 0, 0], (8, 1)), "random", np.random.default_rng(3))
    before = np.random.default_rng(3).normal(size=(8, 4))
    np.testing.assert_allclose(quats, before / np.linalg.norm(before, axis=1, keepdims=True))


def test_an_upright_start_keeps_cylinders_standing_in_the_grasps():
    upright = quiet_env(n=32, grasp=GraspConfig(candidates=32, object_orientation="upright"))
    info = upright.step(np.zeros((32, 16)))[3]
    axes = np.stack([from_wxyz(q).apply([0.0, 0.0, 1.0]) for q in np.asarray(info["obj_quat"])])
    assert np.median(np.abs(axes[:, 2])) > 0.9               # palm up: hand z is up


def test_an_unknown_start_orientation_is_refused_by_name():
    with pytest.raises(ValueError, match="object_orientation.*sideways"):
        GraspConfig(object_orientation="sideways")
