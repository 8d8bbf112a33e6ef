"""Reality profiles: every knob has its measured effect; nominal changes nothing."""
import dataclasses

import mujoco
import numpy as np
import pytest

from dexndm_learning import joint_order
from dexndm_learning.config import ConfigError, from_dict
from dexndm_learning.sim.chaos_box import ChaosBoxSim
from dexndm_learning.sim.hand_model import HandConfig, hand_spec
from dexndm_learning.sim.objects import add_object, object_set
from dexndm_learning.sim.reality import (HAND_BODIES, ISAAC_LINK_BODIES, JOINT_BODIES, CommandFilter, RealityProfile,
                                         SensorModel, apply_profile, capture_nominal, load_profile)

CFG = HandConfig()
PROFILES = ("nominal", "paper_sysid", "worn_hand")
MODEL_FIELDS = ("actuator_gainprm", "actuator_biasprm", "actuator_forcerange", "dof_damping", "dof_frictionloss",
                "dof_armature", "body_mass", "body_inertia", "geom_friction", "body_invweight0", "dof_invweight0")


def _model_with_object():
    """Hand, the object, and a bystander free body that profiles must not touch."""
    spec = hand_spec(CFG)
    obj = object_set("normal_cylinders")[0]
    add_object(spec, obj, pos=(0, 0, 1))
    add_object(spec, obj, body_name="other", pos=(0, 0, 1.5))
    return spec.compile()


def _snapshot(model):
    return {f: getattr(model, f).copy() for f in MODEL_FIELDS}


def _step_response(profile, joint=0, step=0.4, steps=30, onset=5):
    """Measured positions when joint ``joint`` gets a step command at control step ``onset``."""
    sim = ChaosBoxSim(hand_spec(CFG, "palm_up"), CFG, profile, settle_steps=60)
    targets = np.tile(joint_order.CANONICAL_GRASP, (steps, 1))
    targets[onset:, joint] += step
    return sim.replay(targets)


def test_shipped_profiles_load():
    for name in PROFILES:
        assert isinstance(load_profile(name), RealityProfile)


def test_bad_name_and_unknown_key_list_valid_choices(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_profile("no_such_profile")
    assert all(name in str(err.value) for name in PROFILES)
    bad = tmp_path / "bad.yaml"
    bad.write_text("kp_scal: 0.9\n")
    with pytest.raises(ConfigError) as err:
        load_profile(bad)
    assert "kp_scal" in str(err.value) and "kp_scale" in str(err.value) and "latency_steps" in str(err.value)
    with pytest.raises(ConfigError, match="16 values"):
        from_dict(RealityProfile, {"kd_scale": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="22 values"):
        from_dict(RealityProfile, {"link_masses_isaac": [0.01] * 17})
    with pytest.raises(ConfigError) as err:
        from_dict(RealityProfile, {"link_mass_scale": {"pinky": 2.0}})
    assert "pinky" in str(err.value) and "th_ds" in str(err.value)


def test_nominal_profile_changes_nothing():
    model = _model_with_object()
    before = _snapshot(model)
    apply_profile(model, load_profile("nominal"), capture_nominal(model))
    for field, value in before.items():
        np.testing.assert_array_equal(getattr(model, field), value, err_msg=field)
    command = CommandFilter.from_profile(load_profile("nominal"), 2)
    command.reset(np.zeros(16))
    u = np.random.default_rng(0).normal(size=(2, 16))
    np.testing.assert_array_equal(command.step(u), u)
    np.testing.assert_array_equal(SensorModel.from_profile(load_profile("nominal")).measure(u), u)


def test_apply_is_idempotent_and_relative_to_nominal():
    model = _model_with_object()
    nominal = capture_nominal(model)
    apply_profile(model, load_profile("paper_sysid"), nominal)
    once = _snapshot(model)
    apply_profile(model, load_profile("worn_hand"), nominal)
    apply_profile(model, load_profile("paper_sysid"), nominal)
    apply_profile(model, load_profile("paper_sysid"), nominal)
    for field, value in once.items():
        np.testing.assert_array_equal(getattr(model, field), value, err_msg=field)


def test_gain_multipliers_and_paper_gains():
    model = _model_with_object()
    nominal = capture_nominal(model)
    kp_scale = np.linspace(0.5, 1.5, 16)
    apply_profile(model, RealityProfile(kp_scale=list(kp_scale), kd_scale=2.0), nominal)
    np.testing.assert_allclose(model.actuator_gainprm[nominal.actuators, 0], CFG.kp * kp_scale)
    np.testing.assert_allclose(model.actuator_biasprm[nominal.actuators, 1], -CFG.kp * kp_scale)
    np.testing.assert_allclose(model.actuator_biasprm[nominal.actuators, 2], -CFG.kd * 2.0)
    paper = load_profile("paper_sysid")
    apply_profile(model, paper, nominal)
    kp = model.actuator_gainprm[nominal.actuators, 0]
    np.testing.assert_allclose(joint_order.convert(kp, "mj", "isaac"), paper.kp_isaac)
    # Isaac slot 4 is the thumb's first joint, slot 8 the middle finger's first joint.
    assert kp[joint_order.JOINT_NAMES.index("th_cmc")] == pytest.approx(1.94)
    assert kp[joint_order.JOINT_NAMES.index("mf_mcp")] == pytest.approx(2.26)
    kd = -model.actuator_biasprm[nominal.actuators, 2]
    np.testing.assert_allclose(joint_order.convert(kd, "mj", "isaac"), paper.kd_isaac)


def test_joint_dynamics_multipliers():
    model = _model_with_object()
    nominal = capture_nominal(model)
    apply_profile(model, RealityProfile(damping_scale=2.0, frictionloss_scale=3.0, armature_scale=[1.5] * 16), nominal)
    np.testing.assert_allclose(model.dof_damping[nominal.dofs], CFG.joint_damping * 2.0)
    np.testing.assert_allclose(model.dof_frictionloss[nominal.dofs], CFG.frictionloss * 3.0)
    np.testing.assert_allclose(model.dof_armature[nominal.dofs], CFG.armature * 1.5)
    object_dofs = np.flatnonzero(~np.isin(np.arange(model.nv), nominal.dofs))
    assert np.all(model.dof_damping[object_dofs] == 0.0)


def test_link_mass_multipliers_and_paper_masses():
    model = _model_with_object()
    nominal = capture_nominal(model)
    joint_bodies = [model.body(model.jnt_bodyid[model.joint(n).id]).name for n in joint_order.JOINT_NAMES]
    assert tuple(joint_bodies) == JOINT_BODIES
    apply_profile(model, RealityProfile(link_mass_scale={"if_ds": 2.0}), nominal)
    ds = model.body("if_ds").id
    palm = model.body("palm").id
    assert model.body_mass[ds] == pytest.approx(2 * nominal.body_mass[HAND_BODIES.index("if_ds")])
    np.testing.assert_allclose(model.body_inertia[ds], 2 * nominal.body_inertia[HAND_BODIES.index("if_ds")])
    assert model.body_mass[palm] == pytest.approx(nominal.body_mass[0])
    paper = load_profile("paper_sysid")
    apply_profile(model, paper, nominal)
    for mass, body in zip(paper.link_masses_isaac, ISAAC_LINK_BODIES):
        if body is not None:
            assert model.body_mass[model.body(body).id] == pytest.approx(mass), body
    assert model.body_mass[palm] == pytest.approx(0.257)
    fresh = _model_with_object()
    assert not np.allclose(model.dof_invweight0, fresh.dof_invweight0)   # derived constants follow the masses
    assert model.body_mass[model.body("th_bs").id] == pytest.approx(0.003)
    assert sum(b is None for b in ISAAC_LINK_BODIES) == 5 and set(HAND_BODIES) <= set(ISAAC_LINK_BODIES)


def test_object_multipliers_touch_only_the_object():
    model = _model_with_object()
    nominal = capture_nominal(model)
    before = _snapshot(model)
    apply_profile(model, RealityProfile(object_friction_scale=0.5, object_mass_scale=1.6), nominal)
    obj, other = model.body("object").id, model.body("other").id
    assert model.body_mass[obj] == pytest.approx(1.6 * before["body_mass"][obj])
    np.testing.assert_allclose(model.body_inertia[obj], 1.6 * before["body_inertia"][obj])
    geoms = model.geom_bodyid == obj
    np.testing.assert_allclose(model.geom_friction[geoms], 0.5 * before["geom_friction"][geoms])
    assert model.body_mass[other] == before["body_mass"][other]
    np.testing.assert_array_equal(model.geom_friction[~geoms], before["geom_friction"][~geoms])
    np.testing.assert_array_equal(model.actuator_gainprm, before["actuator_gainprm"])


def test_torque_limit_caps_applied_torque():
    joint = joint_order.JOINT_NAMES.index("if_pip")
    target = joint_order.CANONICAL_GRASP.copy()
    target[joint] += 0.15
    for limit in (None, 0.05):
        model = hand_spec(CFG, "palm_up").compile()
        nominal = capture_nominal(model)
        apply_profile(model, RealityProfile(torque_limit=limit), nominal)
        data = mujoco.MjData(model)
        data.qpos[nominal.dofs] = joint_order.CANONICAL_GRASP   # hinge qpos and dof addresses coincide
        data.ctrl[nominal.actuators] = target
        forces = []
        for _ in range(CFG.substeps * 4):
            mujoco.mj_step(model, data)
            forces.append(data.actuator_force[nominal.actuators].copy())
        forces = np.abs(forces)
        if limit is None:
            assert forces[0, joint] == pytest.approx(CFG.kp * 0.15, rel=0.05)
        else:
            assert forces[0, joint] == pytest.approx(limit, abs=1e-12)
            assert forces.max() <= limit + 1e-12


@pytest.mark.parametrize("k", [1, 2])
def test_latency_delays_the_response_by_exactly_k_steps(k):
    joint, onset = joint_order.JOINT_NAMES.index("mf_mcp"), 5
    base = _step_response(RealityProfile(), joint, onset=onset)
    late = _step_response(RealityProfile(latency_steps=k), joint, onset=onset)

    def first_move(q):
        return int(np.argmax(np.abs(q[:, joint] - q[0, joint]) > 1e-3))

    assert first_move(base.q) == onset + 1
    assert first_move(late.q) == first_move(base.q) + k
    np.testing.assert_allclose(late.q[k:, joint], base.q[:len(base.q) - k, joint], atol=1e-4)
    np.testing.assert_array_equal(late.applied[onset + k:, joint], base.targets[onset:-k, joint])


def test_backlash_dead_band():
    width = 0.02
    command = CommandFilter(1, backlash=width)
    command.reset(np.zeros(16))
    # Moving up: the effective target lags the command by half the band.
    out = [command.step(np.full((1, 16), u))[0, 0] for u in (0.0, 0.05, 0.1)]
    np.testing.assert_allclose(out, [0.0, 0.04, 0.09])
    # Reversals smaller than the band leave the target where it is.
    for u in (0.095, 0.085, 0.0801, 0.1):
        assert command.step(np.full((1, 16), u))[0, 0] == pytest.approx(0.09)
    # A reversal larger than the band moves it, again lagging by half the band.
    assert command.step(np.full((1, 16), 0.06))[0, 0] == pytest.approx(0.07)


def test_backlash_shows_in_the_joint_response():
    joint = joint_order.JOINT_NAMES.index("if_mcp")
    wiggle = np.tile(joint_order.CANONICAL_GRASP, (24, 1))
    wiggle[(np.arange(24) // 4) % 2 == 1, joint] += 0.04   # reversals inside a 0.05 rad band
    free = ChaosBoxSim(hand_spec(CFG, "palm_up"), CFG, RealityProfile(), settle_steps=20).replay(wiggle)
    play = ChaosBoxSim(hand_spec(CFG, "palm_up"), CFG, RealityProfile(backlash=0.05), settle_steps=20).replay(wiggle)
    assert np.ptp(free.q[12:, joint]) > 0.02
    # The first rise takes up the play (the target moves 0.04 - 0.025); later reversals do nothing.
    assert play.applied[4, joint] == pytest.approx(wiggle[4, joint] - 0.025)
    assert np.ptp(play.applied[4:, joint]) == 0.0 and np.ptp(play.q[12:, joint]) < 2e-3


def test_command_filter_resets_per_env():
    command = CommandFilter(3, latency_steps=2, backlash=0.0)
    command.reset(np.zeros(16))
    command.step(np.ones((3, 16)))
    command.reset(np.full(16, 5.0), env_ids=[1])
    out = command.step(np.full((3, 16), 2.0))
    np.testing.assert_array_equal(out[:, 0], [0.0, 5.0, 0.0])
    out = command.step(np.full((3, 16), 3.0))
    np.testing.assert_array_equal(out[:, 0], [1.0, 5.0, 1.0])


def test_sensor_noise_and_bias_statistics():
    bias = np.linspace(-0.02, 0.02, 16)
    std = np.full(16, 0.003)
    sensor = SensorModel(noise_std=std, bias=bias, seed=3)
    q = np.tile(joint_order.CANONICAL_GRASP, (20000, 1))
    err = sensor.measure(q) - q
    np.testing.assert_allclose(err.mean(axis=0), bias, atol=1.5e-4)
    np.testing.assert_allclose(err.std(axis=0), std, rtol=0.05)
    np.testing.assert_array_equal(SensorModel(std, bias, seed=3).measure(q[:5]),
                                  SensorModel(std, bias, seed=3).measure(q[:5]))
    worn = load_profile("worn_hand")
    replay = _step_response(dataclasses.replace(worn, sensor_noise_std=0.0), steps=3)
    np.testing.assert_allclose(replay.q - replay.q_true, np.tile(worn.sensor_bias, (4, 1)), atol=1e-12)
