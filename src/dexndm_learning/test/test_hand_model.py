import mujoco
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dexndm_learning import joint_order as jo
from dexndm_learning.sim import wrist as wr
from dexndm_learning.sim.hand_model import FINGERTIP_BODIES, HandConfig, hand_spec, joint_qpos_addr
from dexndm_learning.sim.hand_sim import HandSim


def _tips(model, data):
    return np.array([data.site_xpos[model.site(f"{b}_tip").id] for b in FINGERTIP_BODIES])


def test_model_matches_the_fact_sheet():
    """v1's tip sites at the distal links' ends (v2's sit at the pads' contact centres and are
    checked against Menagerie in test_hand_reference)."""
    cfg = HandConfig(version="v1")
    model = hand_spec(cfg).compile()
    assert model.njnt == 16 and model.nu == 16
    assert [model.joint(i).name for i in range(16)] == list(jo.JOINT_NAMES)
    np.testing.assert_allclose(model.jnt_range, np.stack([jo.LOWER, jo.UPPER], 1))
    assert model.body_mass.sum() == pytest.approx(0.746, abs=1e-6)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    # Flat hand: fingertips at x ~ +0.116 in the palm frame, index/middle/ring y +0.008/-0.037/-0.083.
    palm = data.xmat[model.body("palm").id].reshape(3, 3)
    tips_palm = (_tips(model, data) - data.xpos[model.body("palm").id]) @ palm
    np.testing.assert_allclose(tips_palm[:3, 0], 0.116, atol=0.002)
    np.testing.assert_allclose(tips_palm[:3, 1], [0.008, -0.037, -0.083], atol=0.002)
    np.testing.assert_allclose(tips_palm[3], [-0.081, 0.122, -0.021], atol=0.002)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_no_self_contact_at_open_and_canonical_poses(version):
    for pose in (jo.OPEN_POSE, jo.CANONICAL_GRASP):
        sim = HandSim(cfg=HandConfig(version=version), initial_q=pose)
        assert sim.self_contacts() == []


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_positive_flexion_closes_toward_the_palmar_side(version):
    sim = HandSim(cfg=HandConfig(version=version), wrist="palm_up")
    z0 = sim.data.site_xpos[sim.model.site("mf_ds_tip").id][2]
    sim.reset(np.where(np.arange(16) == 4, 1.0, 0.0))   # mf_mcp
    assert sim.data.site_xpos[sim.model.site("mf_ds_tip").id][2] > z0 + 0.05   # palm up: palmar = +z


@pytest.mark.parametrize("name,palmar_normal", [
    ("palm_up", [0, 0, 1]), ("palm_down", [0, 0, -1]),
    ("thumb_up", None), ("thumb_down", None), ("base_up", None), ("base_down", None)])
def test_named_wrists(name, palmar_normal):
    rot = wr.wrist_rotation(name)
    if palmar_normal is not None:
        np.testing.assert_allclose(rot.apply([0, 0, 1]), palmar_normal, atol=1e-9)
    sim = HandSim(wrist=name)
    d, m = sim.data, sim.model
    thumb = d.site_xpos[m.site("th_ds_tip").id] - d.xpos[m.body("mount").id]
    fingers = d.site_xpos[m.site("mf_ds_tip").id] - d.xpos[m.body("mount").id]
    if name == "thumb_up":
        assert thumb[2] > 0.1
    if name == "thumb_down":
        assert thumb[2] < -0.1
    if name == "base_up":
        assert fingers[2] < -0.1
    if name == "base_down":
        assert fingers[2] > 0.1


def test_any_quaternion_wrist_and_bad_names():
    q = wr.to_wxyz(Rotation.from_euler("xyz", [0.3, -0.2, 1.0]))
    sim = HandSim(wrist=q)
    np.testing.assert_allclose(sim.data.xquat[sim.model.body("mount").id], q, atol=1e-9)
    with pytest.raises(ValueError, match="palm_down"):
        wr.wrist_rotation("palm_sideways")
    with pytest.raises(ValueError):
        wr.wrist_rotation([0, 0, 0, 0])




@pytest.mark.parametrize("wrist", wr.NAMED_WRISTS)
def test_canonical_grasp_holds_a_5cm_cylinder(wrist):
    """The paper's canonical pose (Isaac order), mapped through the joint-order module, holds a
    5 cm diameter cylinder in every named wrist orientation. A wrong joint map gives a pose that
    does not close around the object and it falls."""
    cfg = HandConfig()
    spec = hand_spec(cfg, "palm_up")
    # Centre of the fingertips at the canonical pose, in the hand frame (see hand_model).
    centre = np.array(cfg.mount_pos) + [-0.0036, 0.0408, 0.1162]
    body = spec.worldbody.add_body(name="object", pos=list(centre), quat=[0.7071068, 0, 0.7071068, 0])
    body.add_freejoint()
    body.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.025, 0.04, 0], mass=0.03,
                  friction=[1.0, 0.005, 0.0001])
    model = spec.compile()
    data = mujoco.MjData(model)
    data.qpos[joint_qpos_addr(model)] = jo.CANONICAL_GRASP
    data.ctrl[:] = jo.clip_to_limits(jo.CANONICAL_GRASP + 0.6 * jo.FLEXION_JOINTS)
    model.opt.gravity[:] = 0.0
    for _ in range(60):                      # close the fingers on the object
        mujoco.mj_step(model, data)
    start = data.xpos[model.body("object").id].copy()
    # The hand is fixed, so rotating gravity into the hand frame is the wrist orientation.
    model.opt.gravity[:] = wr.wrist_rotation(wrist).inv().apply([0, 0, -9.81])
    for _ in range(int(2.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    moved = np.linalg.norm(data.xpos[model.body("object").id] - start)
    assert np.all(np.isfinite(data.qpos))
    assert moved < 0.03, f"object moved {moved:.3f} m in 2 s ({wrist})"
    # Counter-check: with the hand opened the same object falls.
    data.ctrl[:] = jo.OPEN_POSE
    for _ in range(int(1.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    assert np.linalg.norm(data.xpos[model.body("object").id] - start) > 0.05


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_step_response_every_joint_from_open_pose(version):
    """Each joint alone, from the open pose, reaches a step target within 0.05 rad in 1 s
    (abduction 0.15 rad: the most v2's fingertips leave between straight fingers)."""
    sim = HandSim(cfg=HandConfig(version=version))
    steps = 0.5 * jo.FLEXION_JOINTS + np.array([0, 0.15, 0, 0] * 3 + [0.5, 0.5, 0, 0])
    for j in range(16):
        sim.reset(jo.OPEN_POSE)
        target = jo.OPEN_POSE.copy()
        target[j] = steps[j]
        sim.set_targets(target)
        sim.step(int(1.0 / sim.timestep))
        assert abs(sim.joint_positions()[j] - target[j]) < 0.05, jo.JOINT_NAMES[j]
        assert sim.self_contacts() == []


def test_v2_fingertips_stop_abduction_between_straight_fingers_and_v1s_do_not():
    reached = {}
    for version in ("v1", "v2"):
        sim = HandSim(cfg=HandConfig(version=version))
        sim.reset(jo.OPEN_POSE)
        target = jo.OPEN_POSE.copy()
        target[jo.JOINT_NAMES.index("if_rot")] = 0.3
        sim.set_targets(target)
        sim.step(int(1.0 / sim.timestep))
        reached[version] = (sim.joint_positions()[jo.JOINT_NAMES.index("if_rot")], set(sim.self_contacts()))
    assert reached["v1"][0] == pytest.approx(0.3, abs=0.05) and not reached["v1"][1]
    assert 0.15 < reached["v2"][0] < 0.25 and ("if_ds", "mf_ds") in reached["v2"][1]


def _palm_touches(model, point_palm) -> bool:
    """Whether a 1 mm sphere at ``point_palm`` (palm frame) would touch a palm geom."""
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    palm = model.body("palm").id
    world = data.xpos[palm] + data.xmat[palm].reshape(3, 3) @ np.asarray(point_palm)
    for g in np.flatnonzero(model.geom_bodyid == palm):
        local = data.geom_xmat[g].reshape(3, 3).T @ (world - data.geom_xpos[g])
        if np.all(np.abs(local) <= model.geom_size[g] + 0.001):
            return True
    return False


def test_palm_shapes_differ_where_the_published_palm_is_open():
    slab = hand_spec(HandConfig.load("hand", {"palm": "slab"})).compile()
    published = hand_spec(HandConfig.load("hand", {"palm": "published"})).compile()
    count = lambda m: int(np.sum(m.geom_bodyid == m.body("palm").id))   # noqa: E731
    assert (count(slab), count(published)) == (1, 10)
    heel_thumb_side = (-0.08, 0.0, -0.03)     # where the thumb's metacarpal sits, not palm
    next_to_fingers = (-0.02, -0.04, -0.03)   # the published face is recessed here
    heel = (-0.07, -0.05, -0.033)             # both palms have their face here
    assert _palm_touches(slab, heel_thumb_side) and not _palm_touches(published, heel_thumb_side)
    assert _palm_touches(slab, next_to_fingers) and not _palm_touches(published, next_to_fingers)
    assert _palm_touches(slab, heel) and _palm_touches(published, heel)
    for pose in (jo.OPEN_POSE, jo.CANONICAL_GRASP):
        sim = HandSim(cfg=HandConfig.load("hand", {"palm": "published"}), initial_q=pose)
        assert sim.self_contacts() == []


def test_unknown_palm_and_override_keys_are_named():
    with pytest.raises(ValueError, match="unknown palm shape 'round'"):
        hand_spec(HandConfig(palm="round"))
    with pytest.raises(Exception, match=r"hand.yaml \(with overrides of palms\): unknown key"):
        HandConfig.load("hand", {"palms": "published"})
