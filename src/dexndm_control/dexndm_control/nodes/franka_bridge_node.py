"""Bridge between DexNDM and franka_ros2 (Cartesian impedance control).

- Wrist orientation: every end-effector pose from ``franka_robot_state_broadcaster``
  (``state_topic``) is turned into the hand's orientation world <- H, i.e. the EE orientation
  composed with the fixed mount rotation ``mount_quat`` (EE <- H), and republished as
  ``geometry_msgs/QuaternionStamped`` on ``wrist_topic`` with the state's header.
- Arm targets: the latest ``PoseStamped`` on ``target_topic`` (base frame) is sent to the
  impedance controller's equilibrium pose (``equilibrium_topic``) at ``publish_rate_hz``, its
  position clamped to the workspace box and each step limited by the speed limits relative to
  the last sent pose (the measured pose when forwarding starts or resumes). Targets with NaN/inf,
  a zero quaternion or a frame other than the state's are refused with a logged error (the
  previous target stays). While the arm state is missing or older than ``state_timeout_s``
  (measured on arrival, this host's clock), nothing is forwarded.
"""
from __future__ import annotations

import time

import numpy as np
from geometry_msgs.msg import PoseStamped, QuaternionStamped
from rclpy.node import Node

from dexndm_control.ros.node_main import spin
from dexndm_control.ros.params import declare_from_file
from dexndm_control.runtime.arm_limits import ArmLimits, Pose, wrist_orientation
from dexndm_learning.sim.wrist import to_wxyz, wrist_rotation


def pose_from_msg(msg: PoseStamped) -> Pose:
    p, q = msg.pose.position, msg.pose.orientation
    return Pose.from_arrays([p.x, p.y, p.z], [q.w, q.x, q.y, q.z])


def fill_pose_msg(msg: PoseStamped, pose: Pose) -> PoseStamped:
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pose.position)
    o = msg.pose.orientation
    o.w, o.x, o.y, o.z = (float(v) for v in pose.quat_wxyz())
    return msg


class FrankaBridgeNode(Node):
    def __init__(self, node_name: str = "franka_bridge", **kwargs):
        super().__init__(node_name, **kwargs)
        declare_from_file(self, "franka_bridge", "franka_bridge.yaml")
        p = lambda name: self.get_parameter(name).value  # noqa: E731

        self.mount = wrist_rotation(list(p("mount_quat")))   # EE <- H
        rate = float(p("publish_rate_hz"))
        self.limits = ArmLimits(np.array(p("workspace_min"), float), np.array(p("workspace_max"), float),
                                float(p("max_linear_speed")), float(p("max_angular_speed")), rate)
        self.state_timeout = float(p("state_timeout_s"))
        self.refused_targets = 0
        self._state: Pose | None = None
        self._state_frame = ""
        self._state_time = -np.inf
        self._target: Pose | None = None
        self._last_sent: Pose | None = None   # None: (re)start from the measured pose

        self.wrist_pub = self.create_publisher(QuaternionStamped, p("wrist_topic"), 10)
        self.eq_pub = self.create_publisher(PoseStamped, p("equilibrium_topic"), 10)
        self.create_subscription(PoseStamped, p("state_topic"), self._on_state, 10)
        self.create_subscription(PoseStamped, p("target_topic"), self._on_target, 10)
        self.create_timer(1.0 / rate, self._tick)
        self.get_logger().info(
            f"state {p('state_topic')} -> wrist {p('wrist_topic')}; targets {p('target_topic')} -> "
            f"{p('equilibrium_topic')} at {rate:g} Hz, workspace {self.limits.workspace_min.tolist()}.."
            f"{self.limits.workspace_max.tolist()}, {self.limits.max_linear_speed:g} m/s, "
            f"{self.limits.max_angular_speed:g} rad/s")

    def state_fresh(self) -> bool:
        return time.monotonic() - self._state_time <= self.state_timeout

    def _on_state(self, msg: PoseStamped) -> None:
        try:
            pose = pose_from_msg(msg)
        except ValueError as exc:
            self.get_logger().error(f"arm state ignored: {exc}", throttle_duration_sec=1.0)
            return
        self._state, self._state_frame, self._state_time = pose, msg.header.frame_id, time.monotonic()
        q = to_wxyz(wrist_orientation(pose.rotation, self.mount))
        out = QuaternionStamped(header=msg.header)
        out.quaternion.w, out.quaternion.x, out.quaternion.y, out.quaternion.z = (float(v) for v in q)
        self.wrist_pub.publish(out)

    def _on_target(self, msg: PoseStamped) -> None:
        try:
            target = pose_from_msg(msg)
            frame = msg.header.frame_id
            if frame and self._state_frame and frame != self._state_frame:
                raise ValueError(f"frame '{frame}' is not the arm state's frame '{self._state_frame}'")
        except ValueError as exc:
            self.refused_targets += 1
            self.get_logger().error(f"arm target refused, previous target kept: {exc}")
            return
        self._target = target

    def _tick(self) -> None:
        if self._target is None:
            return
        if not self.state_fresh():
            if self._last_sent is not None:
                self.get_logger().warning("arm state stale or missing: arm targets not forwarded")
            self._last_sent = None
            return
        ref = self._last_sent if self._last_sent is not None else self._state
        self._last_sent = self.limits.next_command(ref, self._target)
        msg = PoseStamped()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self._state_frame
        self.eq_pub.publish(fill_pose_msg(msg, self._last_sent))


def main(args=None) -> None:
    spin(FrankaBridgeNode, args)

if __name__ == "__main__":
    main()
