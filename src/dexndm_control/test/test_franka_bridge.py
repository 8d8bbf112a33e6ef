"""Franka bridge over ROS 2 topics, with a stand-in for franka_ros2 (state publisher,
equilibrium-pose subscriber)."""
import math

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, QuaternionStamped
from rclpy.node import Node
from scipy.spatial.transform import Rotation

from dexndm_control.nodes.franka_bridge_node import FrankaBridgeNode
from dexndm_control.ros.params import node_parameters
from dexndm_learning.sim.wrist import from_wxyz, to_wxyz

from .ros_helpers import ros_context, spin_for, spin_until

START = np.array([0.5, 0.0, 0.4])
DOWN = Rotation.from_euler("x", 180, degrees=True)   # flange pointing down
FRAME = "fr3_link0"


def pose_msg(position, rotation=None, quat=None, frame=FRAME) -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id = frame
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in position)
    q = to_wxyz(rotation) if quat is None else quat
    o = msg.pose.orientation
    o.w, o.x, o.y, o.z = (float(v) for v in q)
    return msg


def position_of(msg: PoseStamped) -> np.ndarray:
    p = msg.pose.position
    return np.array([p.x, p.y, p.z])


def rotation_of(msg: PoseStamped) -> Rotation:
    q = msg.pose.orientation
    return from_wxyz([q.w, q.x, q.y, q.z])


class FakeFranka(Node):
    """Publishes the EE pose (START, DOWN) at 100 Hz while ``publishing``; records equilibrium
    poses and the bridge's wrist orientations; sends arm targets."""

    def __init__(self, **kwargs):
        super().__init__("fake_franka", **kwargs)
        self.current = pose_msg(START, DOWN)
        self.publishing = True
        self.equilibrium: list[PoseStamped] = []
        self.wrist: list[QuaternionStamped] = []
        self.state_pub = self.create_publisher(PoseStamped, "/franka_robot_state_broadcaster/current_pose", 10)
        self.target_pub = self.create_publisher(PoseStamped, "/dexndm/arm_target", 10)
        self.create_subscription(PoseStamped, "/cartesian_impedance_example_controller/equilibrium_pose",
                                 self.equilibrium.append, 100)
        self.create_subscription(QuaternionStamped, "/dexndm/wrist_orientation", self.wrist.append, 100)
        self.create_timer(0.01, self._publish_state)

    def _publish_state(self):
        if self.publishing:
            self.state_pub.publish(self.current)


@pytest.fixture
def ros():
    """``make(**bridge_overrides) -> (bridge, franka)`` and ``spin(seconds=, until=)``."""
    with ros_context() as (context, executor):
        def make(**bridge_overrides):
            bridge = FrankaBridgeNode(context=context,
                                      parameter_overrides=node_parameters("franka_bridge", bridge_overrides))
            franka = FakeFranka(context=context)
            executor.add_node(bridge)
            executor.add_node(franka)
            return bridge, franka

        def spin(seconds=None, until=None):
            if until is None:
                spin_for(executor, seconds)
            else:
                assert spin_until(executor, until, 3.0), "condition not reached in time"

        yield make, spin


def send_target(franka, spin, msg):
    franka.target_pub.publish(msg)
    spin(0.05)


def test_wrist_orientation_from_ee_pose_and_mount(ros):
    make, spin = ros
    mount = Rotation.from_euler("z", 90, degrees=True)   # EE <- H
    _, franka = make(mount_quat=to_wxyz(mount).tolist())
    spin(until=lambda: len(franka.wrist) >= 3)
    q = franka.wrist[-1].quaternion
    wrist = from_wxyz([q.w, q.x, q.y, q.z])
    np.testing.assert_allclose(wrist.as_matrix(), DOWN.as_matrix() @ mount.as_matrix(), atol=1e-9)
    # Flange down, hand turned 90 deg: fingertips (H x) along world -y, palm (H z) down.
    np.testing.assert_allclose(wrist.apply([1, 0, 0]), [0, -1, 0], atol=1e-9)
    np.testing.assert_allclose(wrist.apply([0, 0, 1]), [0, 0, -1], atol=1e-9)
    assert franka.wrist[-1].header.frame_id == FRAME


def test_target_clamped_to_workspace(ros):
    make, spin = ros
    _, franka = make(max_linear_speed=100.0, max_angular_speed=100.0)
    spin(0.1)
    send_target(franka, spin, pose_msg([2.0, -0.1, -1.0], DOWN))
    spin(until=lambda: len(franka.equilibrium) >= 3)
    out = franka.equilibrium[-1]
    np.testing.assert_allclose(position_of(out), [0.75, -0.1, 0.05], atol=1e-9)   # config box
    assert out.header.frame_id == FRAME


def test_speed_limit_per_step(ros):
    make, spin = ros
    _, franka = make(max_linear_speed=0.5, max_angular_speed=1.0, publish_rate_hz=50.0)
    spin(0.1)
    goal_rot = Rotation.from_euler("z", 90, degrees=True) * DOWN
    send_target(franka, spin, pose_msg(START + [0.2, 0.0, 0.0], goal_rot))
    spin(until=lambda: len(franka.equilibrium) >= 10)
    sent = franka.equilibrium
    positions = np.array([START] + [position_of(m) for m in sent])
    rotations = [DOWN] + [rotation_of(m) for m in sent]
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    turns = [(b * a.inv()).magnitude() for a, b in zip(rotations, rotations[1:])]
    # From the measured pose on, each step moves 0.5 m/s / 50 Hz and turns 1 rad/s / 50 Hz.
    np.testing.assert_allclose(steps, 0.01, atol=1e-9)
    np.testing.assert_allclose(turns, 0.02, atol=1e-6)
    np.testing.assert_allclose(positions[:, 1:], np.tile(START[1:], (len(positions), 1)), atol=1e-9)


def test_nonfinite_and_zero_quaternion_targets_refused(ros):
    make, spin = ros
    bridge, franka = make(max_linear_speed=100.0, max_angular_speed=100.0)
    spin(0.1)
    good = START + [0.05, 0.05, 0.0]
    send_target(franka, spin, pose_msg(good, DOWN))
    send_target(franka, spin, pose_msg([math.nan, 0.0, 0.4], DOWN))
    send_target(franka, spin, pose_msg(START, quat=[1.0, math.inf, 0.0, 0.0]))
    send_target(franka, spin, pose_msg(START, quat=[0.0, 0.0, 0.0, 0.0]))
    n = len(franka.equilibrium)
    spin(until=lambda: len(franka.equilibrium) >= n + 3)
    assert bridge.refused_targets == 3
    for msg in franka.equilibrium:
        assert np.all(np.isfinite(position_of(msg)))
    np.testing.assert_allclose(position_of(franka.equilibrium[-1]), good, atol=1e-9)


def test_target_in_another_frame_refused(ros):
    make, spin = ros
    bridge, franka = make()
    spin(0.1)
    send_target(franka, spin, pose_msg(START, DOWN, frame="world"))
    spin(0.1)
    assert bridge.refused_targets == 1 and not franka.equilibrium


def test_stale_state_blocks_forwarding(ros):
    make, spin = ros
    _, franka = make(state_timeout_s=0.2)
    franka.publishing = False          # no arm state yet
    spin(0.1)
    send_target(franka, spin, pose_msg(START + [0.1, 0.0, 0.0], DOWN))
    spin(0.4)
    assert not franka.equilibrium
    franka.publishing = True           # state arrives: forwarding starts from the measured pose
    spin(until=lambda: len(franka.equilibrium) >= 3)
    np.testing.assert_allclose(np.linalg.norm(position_of(franka.equilibrium[0]) - START), 0.2 / 50, atol=1e-9)
    franka.publishing = False          # state stops: forwarding stops after the timeout
    spin(0.3)
    n = len(franka.equilibrium)
    spin(0.3)
    assert len(franka.equilibrium) == n
