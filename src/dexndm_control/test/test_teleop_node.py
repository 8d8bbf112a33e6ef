"""The Quest 3 teleop node on ROS topics, fed a recorded stream."""
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from scipy.spatial.transform import Rotation

from dexndm_control.ros.node_main import running, spin_until
from dexndm_control.ros.params import node_parameters
from dexndm_control.nodes.teleop_node import QuestTeleopNode
from dexndm_msgs.msg import RotationCommand
from dexndm_teleop import synthetic
from dexndm_teleop.sources import write_frames

EE_POS = np.array([0.5, 0.0, 0.4])
EE_ROT = Rotation.from_euler("x", 180, degrees=True)


class Harness(Node):
    """Stands in for the arm (measured EE pose) and the policy (command subscriber)."""

    def __init__(self, **kwargs):
        super().__init__("teleop_harness", **kwargs)
        self.commands: list[RotationCommand] = []
        self.targets: list[PoseStamped] = []
        self.create_subscription(RotationCommand, "/dexndm/rotation_command", self.commands.append, 100)
        self.create_subscription(PoseStamped, "/dexndm/arm_target", self.targets.append, 100)
        self.ee_pub = self.create_publisher(PoseStamped, "/franka_robot_state_broadcaster/current_pose", 10)
        ee = PoseStamped()
        ee.header.frame_id = "fr3_link0"
        ee.pose.position.x, ee.pose.position.y, ee.pose.position.z = EE_POS
        ee.pose.orientation.x = 1.0   # EE_ROT
        self.create_timer(0.02, lambda: self.ee_pub.publish(ee))


def test_node_publishes_commands_and_targets_from_replay(tmp_path):

    right = lambda t: synthetic.controller_pose(synthetic.RIGHT_REST + [0.0, 0.0, -0.1 * t])  # noqa: E731
    left = synthetic.controller_pose(synthetic.LEFT_REST)
    path = tmp_path / "clutch.jsonl"
    write_frames(path, [synthetic.make_frame(t, right(t), left, ("RG",) if t >= 0.2 else (), 1.0)
                        for t in np.arange(0.0, 1.0, 0.02)])

    with running(lambda context: [Harness(context=context)]) as (executor, (harness,)):
        for _ in range(20):   # the measured EE pose is known before the replay starts
            executor.spin_once(timeout_sec=0.01)
        executor.add_node(QuestTeleopNode(context=executor.context, parameter_overrides=node_parameters(
            "quest_teleop", {"replay_file": str(path), "rate_hz": 50.0})))
        end = time.monotonic() + 60          # the replay ends after 1 s of its own clock; wait for all of it
        spin_until(executor, lambda: len(harness.commands) >= 40 and harness.commands[-1].mode == RotationCommand.MODE_HOLD
                   or time.monotonic() >= end)

    cmds = harness.commands
    assert len(cmds) >= 40
    assert all(c.source == "quest3" for c in cmds)
    assert cmds[0].mode == RotationCommand.MODE_ROTATE and cmds[-1].mode == RotationCommand.MODE_HOLD
    np.testing.assert_allclose([cmds[0].axis.x, cmds[0].axis.y, cmds[0].axis.z], [0, 0, 1])
    assert harness.targets and harness.targets[-1].header.frame_id == "fr3_link0"
    x = [m.pose.position.x for m in harness.targets]
    assert x[0] == pytest.approx(EE_POS[0]) and x[-1] == pytest.approx(EE_POS[0] + 0.078, abs=0.005)
    assert all(b >= a for a, b in zip(x, x[1:]))   # follows the controller forward, then holds
