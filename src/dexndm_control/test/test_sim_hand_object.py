"""The simulated hand holding an object: identity mount, gravity rotated, pose and twist topics."""
import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import PoseStamped, TwistStamped
from sensor_msgs.msg import JointState

from dexndm_control.ros.params import node_parameters
from dexndm_control.nodes.sim_hand_node import SimHandNode
from dexndm_control.sim.sim_object import ObjectHandSim
from dexndm_learning import joint_order as jo
from dexndm_learning.sim.hand_model import GRASP_CENTRE_IN_HAND, HandConfig
from dexndm_learning.sim.wrist import wrist_quat

from .ros_helpers import ros_context, spin_until


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize("wrist, gravity", [("palm_down", [0, 0, 9.81]), ("thumb_up", [0, 9.81, 0]),
                                            (list(wrist_quat("base_up")), [9.81, 0, 0])])
def test_mount_stays_at_identity_and_gravity_follows_the_wrist(wrist, gravity):
    """Gravity in H points where the world down is: palm down = H +z, thumb up = H +y (the thumb
    is along -y), base up (fingers down) = H +x."""
    sim = ObjectHandSim(HandConfig.load("hand"), "normal_cylinders", 1, wrist=wrist)
    np.testing.assert_allclose(sim.model.body("mount").quat, [1, 0, 0, 0])
    np.testing.assert_allclose(sim.model.opt.gravity, gravity, atol=1e-9)
    p0, _ = sim.object_pose()
    assert np.linalg.norm(p0 - GRASP_CENTRE_IN_HAND) < 0.04
    sim.step(120)                                   # 1 s holding the grasp's targets
    assert np.linalg.norm(sim.object_pose()[0] - p0) < 0.015


def _messages_from_hand_holding_cylinder_2(topics: dict[str, type], count: int) -> dict[str, list]:
    """Messages of ``topics`` (name -> type) from a sim hand node holding cylinder 2 palm down,
    once each topic has more than ``count``."""
    with ros_context() as (context, executor):
        hand = SimHandNode(context=context, parameter_overrides=node_parameters(
            "sim_hand", {"wrist": "palm_down", "object_set": "normal_cylinders", "object_index": 2}))
        client = rclpy.create_node("test_client", context=context)
        got: dict[str, list] = {t: [] for t in topics}
        for topic, msg_type in topics.items():
            client.create_subscription(msg_type, topic, got[topic].append, 100)
        executor.add_node(hand)
        executor.add_node(client)
        assert spin_until(executor, lambda: all(len(v) > count for v in got.values()), 5)
    return got


def test_node_publishes_object_pose_and_twist_in_the_hand_frame():
    got = _messages_from_hand_holding_cylinder_2({"/sim/object_pose": PoseStamped, "/sim/object_twist": TwistStamped}, 60)
    poses, twists = got["/sim/object_pose"], got["/sim/object_twist"]
    assert poses[-1].header.frame_id == "hand" == twists[-1].header.frame_id
    p = poses[-1].pose.position
    assert np.linalg.norm(np.array([p.x, p.y, p.z]) - GRASP_CENTRE_IN_HAND) < 0.04
    o = poses[-1].pose.orientation
    assert np.linalg.norm([o.w, o.x, o.y, o.z]) == pytest.approx(1.0)
    w = twists[-1].twist.angular
    assert np.linalg.norm([w.x, w.y, w.z]) < 1.0    # held still


def test_node_publishes_the_grasp_targets_not_the_measured_pose():
    """The targets in force at start are the cached grasp's, "inside" the object: they differ from
    the measured joints by the contact deflection (what the policy must start from)."""
    grasp_targets = ObjectHandSim(HandConfig.load("hand"), "normal_cylinders", 2, wrist="palm_down").targets
    got = _messages_from_hand_holding_cylinder_2(
        {"/leap_hand/joint_states": JointState, "/leap_hand/joint_targets": JointState}, 30)
    states, targets = got["/leap_hand/joint_states"], got["/leap_hand/joint_targets"]
    for msg in (targets[0], targets[-1]):
        assert list(msg.name) == list(jo.JOINT_NAMES)
        np.testing.assert_allclose(msg.position, grasp_targets, atol=1e-9)
    deflection = np.abs(np.asarray(states[-1].position) - grasp_targets).max()
    assert deflection > 0.02, deflection


def test_node_starts_the_object_as_its_start_parameters_say():
    """start_orientation upright, start_offset on the palm: the cylinder stands on the palm (palm
    up: local z along H z) instead of lying at a random angle around the canonical grasp centre."""
    from dexndm_learning.sim.wrist import from_wxyz

    def started(**params):
        with ros_context() as (context, _):
            node = SimHandNode(context=context, parameter_overrides=node_parameters(
                "sim_hand", {"object_set": "normal_cylinders", "object_index": 4, **params}))
            pos, quat = node.sim.object_pose()
            node.destroy_node()
        return pos, from_wxyz(quat).apply([0.0, 0.0, 1.0])

    pos, axis = started(start_orientation="upright", start_offset=[-0.02, 0.0, -0.03])
    assert abs(axis[2]) > 0.95
    assert pos[2] < GRASP_CENTRE_IN_HAND[2] - 0.015 and pos[0] < GRASP_CENTRE_IN_HAND[0] - 0.005
    _, axis = started(start_orientation="axis", start_axis=[0.0, 1.0, 0.0])
    assert abs(axis[1]) > 0.95
    with pytest.raises(ValueError, match="object_orientation.*lying"):
        started(start_orientation="lying")
