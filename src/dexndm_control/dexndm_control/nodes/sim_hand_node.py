"""Simulated LEAP Hand node: MuJoCo physics in real time behind the hardware driver's topics.

Publishes ``sensor_msgs/JointState`` (position, velocity, effort; our joint names and order; sim
angles) on ``state_topic`` and takes position targets as ``sensor_msgs/JointState`` on
``command_topic``. Commands with NaN/inf, the wrong joints or targets outside the joint limits are
refused with a logged error; the previous targets stay in force. The targets in force (the last
command accepted, before the reality profile's command filter; the grasp's targets at start with
an object) are published as ``sensor_msgs/JointState`` (positions only, same names and order) on
``target_topic`` with every joint state, so the policy can start bumplessly on a held object.

With ``object_set`` non-empty, object ``object_index`` of that set (``object_seed``) is loaded and
the hand starts from a cached grasp of it (``grasp_index``; made and cached on first use; how the
object lies and where: ``start_orientation``, ``start_axis``, ``start_offset``, as the start grasps
of the training environment, ``GraspConfig``). Then,
as in training, the hand model stays at the identity mount and the wrist orientation rotates
gravity into the hand frame instead, so the grasps made for the training environment apply
unchanged; joint angles are the same either way. The object's pose (centre of mass relative to
the mount, orientation) and twist are published in that hand frame (``frame_id`` "hand") as
``geometry_msgs/PoseStamped`` on ``object_pose_topic`` and ``TwistStamped`` on
``object_twist_topic`` with every joint state. Without an object the mount itself is rotated.

``scene`` (``sim_scene.py``): ``hand``, or a Chaos Box scene (``chaos_box``: buried in soft balls,
``n_balls`` 0 = enough to cover the hand, placed with ``scene_seed``; ``chaos_box_strapped``: a
ball strapped to three fingertips, the palm-up set-up). ``reality`` (``sim_reality.py``): a
reality profile name in ``config/reality/`` or a path; its static part changes the model, its
command filter acts on the targets and its sensor model on the published positions.

Time: with ``publish_clock`` false the physics follows the wall clock times
``real_time_factor`` and messages are stamped with the wall clock. With ``publish_clock`` true
the simulation is the clock of the graph: every tick advances the physics by one JointState
period of sim time (``publish_rate_hz`` in sim time), publishes ``rosgraph_msgs/Clock`` on
``/clock`` (wall time at start + sim time) and stamps every message with it; nodes run with
``use_sim_time`` follow it. Ticks come at ``real_time_factor`` times the sim rate of wall time
at most; when the physics is slower (Chaos Box scenes) the simulation, and the nodes following
its clock, simply run slower.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.time import Time
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState

from dexndm_control.ros.node_main import spin
from dexndm_control.ros.diagnostics import hand_diagnostics
from dexndm_control.ros.params import declare_from_file
from dexndm_control.runtime.joint_state_io import command_targets, make_joint_state
from dexndm_control.sim.sim_object import ObjectHandSim
from dexndm_control.sim.sim_reality import RealityHand
from dexndm_control.sim.sim_scene import scene_sim
from dexndm_learning import joint_order
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.reality import load_profile

MAX_CATCH_UP_S = 0.1
"""If the physics falls further behind wall time than this, skip ahead (and count it) rather
than spiral into ever longer callbacks."""
OBJECT_FRAME = "hand"


class SimHandNode(Node):
    def __init__(self, node_name: str = "sim_hand", now: Callable[[], float] = time.monotonic, **kwargs):
        """``now``: the wall clock the simulation keeps pace with (injected by tests)."""
        super().__init__(node_name, **kwargs)
        self._now = now
        declare_from_file(self, "sim_hand", "sim_hand.yaml")
        p = lambda name: self.get_parameter(name).value  # noqa: E731

        quat = list(p("wrist_quat"))
        wrist = quat if np.linalg.norm(quat) > 0 else p("wrist")
        hand_cfg = HandConfig.load(p("hand_config"))
        if p("object_set"):
            if p("scene") != "hand":
                raise ValueError(f"an object (object_set '{p('object_set')}') needs scene 'hand', not '{p('scene')}'")
            grasp = GraspConfig(object_orientation=p("start_orientation"),
                                object_axis=tuple(float(v) for v in p("start_axis")),
                                centre_offset=tuple(float(v) for v in p("start_offset")))
            self.sim = ObjectHandSim(hand_cfg, p("object_set"), int(p("object_index")), int(p("object_seed")),
                                     wrist=wrist, grasp_index=int(p("grasp_index")), grasp=grasp)
            self.pose_pub = self.create_publisher(PoseStamped, p("object_pose_topic"), 10)
            self.twist_pub = self.create_publisher(TwistStamped, p("object_twist_topic"), 10)
        else:
            self.sim = scene_sim(p("scene"), hand_cfg, wrist, int(p("n_balls")), int(p("scene_seed")))
        self.hand = RealityHand(self.sim, load_profile(p("reality")))
        self.rtf = float(p("real_time_factor"))
        if not self.rtf > 0:
            raise ValueError(f"real_time_factor must be > 0, got {self.rtf}")
        self.publish_clock = bool(p("publish_clock"))
        rate = float(p("publish_rate_hz"))
        self._steps_per_tick = max(1, round(1.0 / (rate * self.sim.timestep)))
        self._epoch_ns = time.time_ns()
        self.frame_id = p("frame_id")
        self.rejected_commands = 0
        self.lag_events = 0
        self.state_pub = self.create_publisher(JointState, p("state_topic"), 10)
        self.target_pub = self.create_publisher(JointState, p("target_topic"), 10)
        self.create_subscription(JointState, p("command_topic"), self._on_command, 10)
        self._wall0 = self._now()
        self._sim0 = self.sim.time
        if self.publish_clock:
            self.clock_pub = self.create_publisher(Clock, "/clock", 10)
            self.create_timer(1.0 / (rate * self.rtf), self._tick)
        else:
            self.create_timer(1.0 / rate, self._tick)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_ticks, self._ticks = 0, 0
        self._diag_wall = self._now()
        self.create_timer(float(p("diagnostics_period_s")), self._publish_diagnostics)
        held = f", holding '{self.sim.object.name}'" if isinstance(self.sim, ObjectHandSim) else ""
        self.get_logger().info(f"simulated LEAP Hand{held}, scene {p('scene')}, reality {p('reality')}, "
                               f"wrist {wrist}, rtf {self.rtf}, clock {'/clock' if self.publish_clock else 'wall'}, "
                               f"state {p('state_topic')}, commands {p('command_topic')}, "
                               f"targets {p('target_topic')}")

    def _on_command(self, msg: JointState) -> None:
        try:
            self.hand.set_targets(command_targets(msg))
        except joint_order.JointCommandError as exc:
            self.rejected_commands += 1
            self.get_logger().error(f"command refused, previous targets kept: {exc}")

    def _steps_behind_wall_clock(self) -> int:
        target_time = self._sim0 + (self._now() - self._wall0) * self.rtf
        behind = target_time - self.sim.time
        if behind > MAX_CATCH_UP_S:
            self.lag_events += 1
            self._sim0 -= behind - self.sim.timestep   # re-anchor: drop the backlog
            behind = self.sim.timestep
        return int(behind / self.sim.timestep + 1e-6)    # a step due up to rounding is due

    def _tick(self) -> None:
        if self.publish_clock:
            self.hand.step(self._steps_per_tick)
            stamp = Time(nanoseconds=self._epoch_ns + round(self.sim.time * 1e9)).to_msg()
            self.clock_pub.publish(Clock(clock=stamp))   # before the state: followers see its time first
        else:
            self.hand.step(self._steps_behind_wall_clock())
            stamp = self.get_clock().now().to_msg()
        self.target_pub.publish(make_joint_state(stamp, self.hand.commanded, frame_id=self.frame_id))
        self.state_pub.publish(make_joint_state(
            stamp, self.hand.measured_positions(), self.sim.joint_velocities(), self.sim.joint_efforts(),
            self.frame_id))
        self._ticks += 1
        if isinstance(self.sim, ObjectHandSim):
            self._publish_object(stamp)

    def _publish_diagnostics(self) -> None:
        """What a simulated hand knows: joint torques, the state rate and how far the simulation
        lags the wall clock (no temperatures, voltages or motor alarms)."""
        now = self._now()
        rate = (self._ticks - self._diag_ticks) / max(now - self._diag_wall, 1e-9)
        bus = {"port": "simulation", "read_rate_hz": round(rate, 1), "lag_events": self.lag_events,
               "rejected_commands": self.rejected_commands}
        self._diag_ticks, self._diag_wall = self._ticks, now
        self.diagnostics_pub.publish(hand_diagnostics(self.get_clock().now().to_msg(),
                                                      {"effort_nm": self.sim.joint_efforts()}, None, bus))

    def _publish_object(self, stamp) -> None:
        pos, quat = self.sim.object_pose()
        lin, ang = self.sim.object_twist()
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, OBJECT_FRAME
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in pos)
        o = pose.pose.orientation
        o.w, o.x, o.y, o.z = (float(v) for v in quat)
        twist = TwistStamped()
        twist.header.stamp, twist.header.frame_id = stamp, OBJECT_FRAME
        twist.twist.linear.x, twist.twist.linear.y, twist.twist.linear.z = (float(v) for v in lin)
        twist.twist.angular.x, twist.twist.angular.y, twist.twist.angular.z = (float(v) for v in ang)
        self.pose_pub.publish(pose)
        self.twist_pub.publish(twist)


def main(args=None) -> None:
    spin(SimHandNode, args)

if __name__ == "__main__":
    main()
