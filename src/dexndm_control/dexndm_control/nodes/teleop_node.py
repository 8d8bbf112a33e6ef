"""Quest 3 teleoperation node: controller input -> RotationCommand and arm pose targets.

At ``rate_hz`` it reads the input source (the live headset through oculus_reader, or the
recorded stream in ``replay_file`` when that is set), maps it (see ``dexndm_teleop.mapping``) and
publishes ``dexndm_msgs/RotationCommand`` (source "quest3") on ``command_topic`` and, once the
clutch has been used, the EE target ``PoseStamped`` on ``arm_target_topic``.

A clutch starts from the equilibrium pose last sent to the arm (``commanded_pose_topic``), or
the measured EE pose (``ee_pose_topic``) before any was sent: starting from the measured pose
would let the arm sag by the impedance controller's steady-state error at every clutch.
"""
from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from scipy.spatial.transform import Rotation

from dexndm_control.ros.node_main import spin
from dexndm_control.ros.params import declare_from_file
from dexndm_learning.sim.wrist import from_wxyz, to_wxyz
from dexndm_msgs.msg import RotationCommand
from dexndm_teleop.mapping import QuestMapping, TeleopConfig
from dexndm_teleop.sources import InputSource, OculusReaderSource, ReplaySource


def parse_pose(msg: PoseStamped) -> tuple[np.ndarray, Rotation, str] | None:
    """(position, rotation, frame_id), or None for NaN/inf or a zero quaternion."""
    p, q = msg.pose.position, msg.pose.orientation
    pos, quat = np.array([p.x, p.y, p.z]), np.array([q.w, q.x, q.y, q.z])
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat)) and np.linalg.norm(quat) > 1e-6):
        return None
    return pos, from_wxyz(quat / np.linalg.norm(quat)), msg.header.frame_id


def config_from_params(p) -> TeleopConfig:
    """``p(name)`` -> parameter value."""
    return TeleopConfig(
        world_from_headset=from_wxyz(np.array(p("world_from_headset_quat"), float)),
        button_axes=np.array(p("button_axes"), float),
        short_axis_weight=float(p("short_axis_weight")),
        start_axis_mode=p("start_axis_mode"),
        position_scale=float(p("position_scale")),
        orientation_scale=float(p("orientation_scale")),
        enable_threshold=float(p("enable_threshold")),
    )


class QuestTeleopNode(Node):
    def __init__(self, node_name: str = "quest_teleop", source: InputSource | None = None, **kwargs):
        super().__init__(node_name, **kwargs)
        declare_from_file(self, "quest_teleop", "quest_teleop.yaml")
        p = lambda name: self.get_parameter(name).value  # noqa: E731

        self.mapping = QuestMapping(config_from_params(p))
        if source is None:
            if p("replay_file"):
                source = ReplaySource(p("replay_file"))
            else:
                source = OculusReaderSource(p("oculus_ip") or None, float(p("stale_after_s")))
        self.source = source
        self._measured = self._commanded = None   # parse_pose() results
        self.cmd_pub = self.create_publisher(RotationCommand, p("command_topic"), 10)
        self.target_pub = self.create_publisher(PoseStamped, p("arm_target_topic"), 10)
        self.create_subscription(PoseStamped, p("ee_pose_topic"), self._on_measured, 10)
        self.create_subscription(PoseStamped, p("commanded_pose_topic"), self._on_commanded, 10)
        self.create_timer(1.0 / float(p("rate_hz")), self._tick)
        self.get_logger().info(f"input {type(source).__name__}, commands {p('command_topic')}, "
                               f"arm targets {p('arm_target_topic')} at {p('rate_hz'):g} Hz")

    def _on_measured(self, msg: PoseStamped) -> None:
        self._measured = parse_pose(msg) or self._measured

    def _on_commanded(self, msg: PoseStamped) -> None:
        self._commanded = parse_pose(msg) or self._commanded

    def _tick(self) -> None:
        anchor = self._commanded or self._measured
        ee_pos, ee_rot, frame_id = anchor if anchor is not None else (None, None, "")
        out = self.mapping.update(self.source.get(), ee_pos, ee_rot)
        stamp = self.get_clock().now().to_msg()
        cmd = RotationCommand(mode=out.mode, source="quest3")
        cmd.header.stamp = stamp
        cmd.axis.x, cmd.axis.y, cmd.axis.z = (float(v) for v in out.axis)
        self.cmd_pub.publish(cmd)
        if out.target_position is not None:
            self.target_pub.publish(self._pose_msg(stamp, frame_id, out.target_position, out.target_rotation))

    @staticmethod
    def _pose_msg(stamp, frame_id: str, position: np.ndarray, rotation: Rotation) -> PoseStamped:
        msg = PoseStamped()
        msg.header.stamp = stamp
        msg.header.frame_id = frame_id
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in position)
        o = msg.pose.orientation
        o.w, o.x, o.y, o.z = (float(v) for v in to_wxyz(rotation))
        return msg


def main(args=None) -> None:
    spin(QuestTeleopNode, args)


if __name__ == "__main__":
    main()
