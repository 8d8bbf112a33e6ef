"""Foxglove live view node (``live_view``): the hand's topics into ``viz.live_view.LiveView``.

Subscribes to the joint states and targets (any hand node: the LEAP driver or the simulated
hand), the policy's status, the rotation command and the simulated object's pose, and serves
them to the Foxglove app over WebSocket (``ws://<host>:<port>``, localhost by default). Started by
``--viz`` on ``dexndm rotate``, ``sim-hand``, ``teleop`` and ``collect chaos-box`` and by the
launch files' ``viz:=true``. A state message that is not 16 finite positions is dropped with a
throttled warning; the view never publishes to ROS.
"""
from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped, QuaternionStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState

from dexndm_control.ros.node_main import spin
from dexndm_control.ros.params import declare_from_file
from dexndm_control.viz.live_view import LiveView
from dexndm_learning import joint_order
from dexndm_msgs.msg import PolicyStatus, RotationCommand


def _positions(msg: JointState) -> np.ndarray:
    pos = np.asarray(msg.position, dtype=float)
    if len(msg.name):
        pos = joint_order.reorder_by_names(pos, msg.name)
    if pos.shape != (joint_order.NUM_JOINTS,) or not np.all(np.isfinite(pos)):
        raise ValueError(f"expected {joint_order.NUM_JOINTS} finite positions, got {pos.shape}")
    return pos


def _stamp_ns(msg) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


class LiveViewNode(Node):
    def __init__(self, node_name: str = "live_view", **kwargs):
        super().__init__(node_name, **kwargs)
        declare_from_file(self, "live_view", "live_view.yaml")
        p = lambda name: self.get_parameter(name).value  # noqa: E731
        self.view = LiveView(port=int(p("port")), host=p("host"), hand_config=p("hand_config"), wrist=p("wrist"))
        self.create_subscription(JointState, p("state_topic"), self._on_state, 10)
        self.create_subscription(JointState, p("target_topic"), self._on_targets, 10)
        self.create_subscription(PolicyStatus, p("status_topic"), self._on_status, 10)
        self.create_subscription(RotationCommand, p("rotation_command_topic"), self._on_command, 10)
        self.create_subscription(PoseStamped, p("object_pose_topic"), self._on_object, 10)
        if p("wrist_topic"):                      # the wrist follows the arm (teleop)
            self.create_subscription(QuaternionStamped, p("wrist_topic"), self._on_wrist, 10)
        self.create_timer(float(p("scene_period_s")), self.view.publish_scene)
        self.get_logger().info(f"Foxglove live view on ws://{p('host')}:{self.view.port} (open it in the Foxglove app)")

    def _positions(self, msg: JointState) -> np.ndarray | None:
        try:
            return _positions(msg)
        except (ValueError, joint_order.JointCommandError) as e:
            self.get_logger().warning(f"live view: joint state dropped: {e}", throttle_duration_sec=5.0)
            return None

    def _on_state(self, msg: JointState) -> None:
        q = self._positions(msg)
        if q is not None:
            self.view.joint_states(q, _stamp_ns(msg))

    def _on_targets(self, msg: JointState) -> None:
        q = self._positions(msg)
        if q is not None:
            self.view.joint_targets(q, _stamp_ns(msg))

    def _on_status(self, msg: PolicyStatus) -> None:
        self.view.policy_status({"tick": int(msg.tick), "flags": int(msg.flags), "missed_ticks": int(msg.missed_ticks),
                                 "tick_duration_ms": float(msg.tick_duration_ms), "period_ms": float(msg.period_ms),
                                 "base_action_norm": float(msg.base_action_norm),
                                 "residual_action_norm": float(msg.residual_action_norm),
                                 "residual_scale": float(msg.residual_scale)}, _stamp_ns(msg))

    def _on_command(self, msg: RotationCommand) -> None:
        if msg.mode == RotationCommand.MODE_ROTATE:
            self.view.set_axis([msg.axis.x, msg.axis.y, msg.axis.z])
        else:
            self.view.axis = None

    def _on_wrist(self, msg: QuaternionStamped) -> None:
        q = msg.quaternion
        try:
            self.view.set_wrist([q.w, q.x, q.y, q.z])
        except ValueError as e:
            self.get_logger().warning(f"live view: wrist dropped: {e}", throttle_duration_sec=5.0)

    def _on_object(self, msg: PoseStamped) -> None:
        o = msg.pose.orientation
        self.view.set_object_pose([msg.pose.position.x, msg.pose.position.y, msg.pose.position.z], [o.w, o.x, o.y, o.z])

    def destroy_node(self) -> None:
        self.view.close()
        super().destroy_node()


def main(args=None) -> None:
    spin(LiveViewNode, args)


if __name__ == "__main__":
    main()
