"""Rotation policy node (``rotation_policy``): base + residual policy at 20 Hz on the hand's topics.

Inputs
- ``state_topic`` (sensor_msgs/JointState, our 16 names in any order): the measured joints;
  states with NaN/inf or the wrong joints are ignored (and go stale).
- ``hand_target_topic`` (sensor_msgs/JointState, as states): the position targets in force on the
  hand; on first activation the policy starts from them when fresh (bumpless start on a held
  object, see ``policy_runtime``), else from the measured joints. Invalid ones are ignored.
- wrist orientation world <- H: the fixed ``wrist`` / ``wrist_quat`` parameters
  (``wrist_source: fixed``) or geometry_msgs/QuaternionStamped on ``wrist_topic``
  (``wrist_source: topic``, e.g. from the Franka bridge; stale after ``wrist_timeout_s``).
- ``rotation_command_topic`` (dexndm_msgs/RotationCommand): MODE_ROTATE runs the policy about
  ``axis`` (world frame); MODE_HOLD and MODE_OFF hold the last safe target.
- ``enable_topic`` (std_msgs/Bool): false disables the policy (holds); true enables it.
- ``estop_topic`` (std_msgs/Bool): true latches the e-stop (policy disabled, last safe target
  held). Reset: publish false on the e-stop topic, then true on the enable topic.
- ``fault_topic`` (std_msgs/String, latched; the LEAP driver's motor alarm): a non-empty text holds
  the last safe target (FLAG_HARDWARE_FAULT); once it is empty again (the operator rebooted the
  motors) the policy restarts from the hand's targets.

Outputs, once per tick
- ``command_topic`` (sensor_msgs/JointState, our names): the target, once there is one (nothing
  is published before the policy first runs).
- ``status_topic`` (dexndm_msgs/PolicyStatus): tick counter, missed ticks, tick duration (from
  the arrival of the joint state the tick used to the publication of its target; nan when no
  target was published), period, action norms, safety flags (see ``policy_runtime``).

``trigger: timer`` ticks at ``rate_hz`` (deployment); ``trigger: state`` ticks on every
incoming joint state (benchmarks: faster than real time; no missed ticks are counted then).
Input ages are measured on this host's monotonic clock at arrival, not from header stamps.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from geometry_msgs.msg import QuaternionStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import Bool, String

from dexndm_control.ros.node_main import spin
from dexndm_control.ros.params import declare_from_file
from dexndm_control.runtime.joint_state_io import make_joint_state
from dexndm_control.runtime.policy_runtime import PolicyRuntime, SafetyConfig, Sample
from dexndm_control.runtime.tick_clock import TickClock
from dexndm_learning import joint_order
from dexndm_learning.config import ConfigError, repo_root
from dexndm_learning.policy.artifact import load_policy
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.wrist import wrist_quat
from dexndm_msgs.msg import PolicyStatus, RotationCommand


def resolve_model_path(path: str) -> Path:
    """An absolute path, or a relative one found from the working directory or the checkout."""
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p] + ([repo_root() / p] if repo_root() else [])
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(f"policy file '{path}' not found (looked at {[str(c) for c in candidates]})")


def state_positions(msg: JointState) -> np.ndarray | None:
    """Joint positions in MJ order, or None for a message that must not be used."""
    try:
        q = joint_order.reorder_by_names(msg.position, msg.name)
    except (joint_order.JointCommandError, ValueError, IndexError):
        return None
    return q if np.all(np.isfinite(q)) else None


class PolicyNode(Node):
    def __init__(self, node_name: str = "rotation_policy", **kwargs):
        super().__init__(node_name, **kwargs)
        declare_from_file(self, "rotation_policy", "policy.yaml")
        p = lambda name: self.get_parameter(name).value  # noqa: E731

        trigger, wrist_source = p("trigger"), p("wrist_source")
        if trigger not in ("timer", "state"):
            raise ConfigError(f"trigger must be 'timer' or 'state', got '{trigger}'")
        if wrist_source not in ("fixed", "topic"):
            raise ConfigError(f"wrist_source must be 'fixed' or 'topic', got '{wrist_source}'")
        torch.set_num_threads(int(p("torch_threads")))
        base_path = resolve_model_path(p("base_policy"))
        residual_path = resolve_model_path(p("residual_policy")) if p("residual_policy") else None
        hand_version = HandConfig.load(p("hand_config")).version
        policies = [load_policy(base_path), load_policy(residual_path) if residual_path else None]
        for path, policy in zip((base_path, residual_path), policies):
            if policy is not None:
                policy.check_hand(hand_version, path)
                policy.check_rate(float(p("rate_hz")), path)
        self.runtime = PolicyRuntime(
            *policies,
            SafetyConfig(max_step=float(p("max_step_rad")),
                         state_timeout=float(p("state_timeout_s")),
                         wrist_timeout=float(p("wrist_timeout_s")) if wrist_source == "topic" else math.inf))
        self.runtime.set_enabled(bool(p("start_enabled")))
        if wrist_source == "fixed":
            quat = list(p("wrist_quat"))
            self.runtime.set_wrist(wrist_quat(quat if np.linalg.norm(quat) > 0 else p("wrist")), 0.0)
        else:
            self.create_subscription(QuaternionStamped, p("wrist_topic"), self._on_wrist, 10)

        self.clock = TickClock(1.0 / float(p("rate_hz")))
        self.count_missed = trigger == "timer"
        self.tick_count = 0
        self.ignored_messages = 0
        self._state: Sample | None = None
        self.cmd_pub = self.create_publisher(JointState, p("command_topic"), 10)
        self.status_pub = self.create_publisher(PolicyStatus, p("status_topic"), 10)
        self.create_subscription(JointState, p("state_topic"), self._on_state, 10)
        self.create_subscription(JointState, p("hand_target_topic"), self._on_hand_target, 10)
        self.create_subscription(RotationCommand, p("rotation_command_topic"), self._on_command, 10)
        self.create_subscription(Bool, p("enable_topic"), lambda m: self.runtime.set_enabled(m.data), 10)
        self.create_subscription(Bool, p("estop_topic"), self._on_estop, 10)
        self.create_subscription(String, p("fault_topic"), self._on_fault,
                                 QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        if trigger == "timer":
            self.create_timer(self.clock.period, self._tick)
        self.get_logger().info(
            f"base {base_path}, residual {residual_path or 'none'}; {trigger}-triggered at "
            f"{p('rate_hz'):g} Hz; wrist {wrist_source}; state {p('state_topic')} -> commands "
            f"{p('command_topic')}")

    # ------------------------------------------------------------------ inputs
    def _ignore(self, what: str) -> None:
        self.ignored_messages += 1
        self.get_logger().error(f"ignored {what}", throttle_duration_sec=1.0)

    def _on_state(self, msg: JointState) -> None:
        q = state_positions(msg)
        if q is None:
            self._ignore("joint state with NaN/inf or without our 16 joint names")
            return
        self._state = Sample(q, time.monotonic())
        if not self.count_missed:
            self._tick()

    def _on_hand_target(self, msg: JointState) -> None:
        q = state_positions(msg)
        if q is None:
            self._ignore("hand target with NaN/inf or without our 16 joint names")
            return
        self.runtime.set_hand_target(q, time.monotonic())

    def _on_wrist(self, msg: QuaternionStamped) -> None:
        o = msg.quaternion
        try:
            self.runtime.set_wrist([o.w, o.x, o.y, o.z], time.monotonic())
        except ValueError as exc:
            self._ignore(f"wrist orientation: {exc}")

    def _on_command(self, msg: RotationCommand) -> None:
        try:
            self.runtime.set_command(msg.mode, [msg.axis.x, msg.axis.y, msg.axis.z])
        except ValueError as exc:
            self._ignore(f"rotation command from '{msg.source}': {exc}")

    def _on_fault(self, msg: String) -> None:
        if msg.data and not self.runtime.hardware_fault:
            self.get_logger().error(f"hand motor alarm: {msg.data}; holding")
        elif not msg.data and self.runtime.hardware_fault:
            self.get_logger().info("hand motor alarm cleared; starting again from the hand's targets")
        self.runtime.set_hardware_fault(bool(msg.data))

    def _on_estop(self, msg: Bool) -> None:
        if msg.data and not self.runtime.estop_latched:
            self.get_logger().warning("e-stop: policy disabled, holding the last safe target")
        self.runtime.set_estop(msg.data)

    # ------------------------------------------------------------------ tick
    def _tick(self) -> None:
        now = time.monotonic()
        period = self.clock.start(now)
        state = self._state
        started = self.runtime.started_from
        out = self.runtime.tick(state, now)
        if started is None and self.runtime.started_from is not None:
            self.get_logger().info(f"policy started from {self.runtime.started_from.value}")
        stamp = self.get_clock().now().to_msg()
        duration = math.nan
        if out.target is not None:
            self.cmd_pub.publish(make_joint_state(stamp, out.target))
            if state is not None:
                duration = time.monotonic() - state.time
        status = PolicyStatus(tick=self.tick_count, missed_ticks=self.clock.missed if self.count_missed else 0,
                              tick_duration_ms=1e3 * duration, period_ms=1e3 * period,
                              base_action_norm=out.base_norm, residual_action_norm=out.residual_norm,
                              residual_scale=out.residual_scale,
                              flags=int(out.flags))
        status.header.stamp = stamp
        self.status_pub.publish(status)
        self.tick_count += 1


def main(args=None) -> None:
    spin(PolicyNode, args)

if __name__ == "__main__":
    main()
