"""ROS 2 driver node for the real LEAP Hand: the same topics and conventions as the simulated hand.

Publishes ``sensor_msgs/JointState`` on ``state_topic`` at ``publish_rate_hz``: our joint names in
MJ order, position in sim angles (rad, 0 = flat hand), velocity in rad/s, and effort = motor
current in amperes (A; not a torque: the motors do not measure torque). Takes position targets as
``sensor_msgs/JointState`` on ``command_topic``; commands with NaN/inf, the wrong joints or targets
outside the joint limits are refused with a logged error and the previous targets stay in force.
The targets in force, i.e. the last goal positions written to the motors (sim angles, MJ order;
before any command, the goal set at torque enable: the pose the hand was in, clipped to the
limits), are published as ``sensor_msgs/JointState`` (positions only) on ``target_topic`` with
every joint state, so the policy can start bumplessly on a held object.
Torque is disabled when the node is destroyed.

Motor alarms (``drivers.leap.bus.MotorFault``): the node logs which motor, joint and error, writes
no more goals (commands are refused), keeps publishing joint states, and publishes the fault's
text on ``fault_topic`` (``std_msgs/String``, latched; an empty string once cleared). Recovery is the
operator's: a message on ``reboot_topic`` (``std_msgs/Empty``) reboots the faulted motors and
re-enables them where they are (``LeapHandBus.reboot_faulted``).

Diagnostics: ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics`` every ``diagnostics_period_s``:
per motor its present current, temperature, input voltage and hardware errors (ERROR on an alarm,
WARN when hot), and the bus (state read rate, retried attempts, timeouts, corrupt replies).

A lost bus (the USB cable pulled, the adapter gone): no read succeeds for ``disconnect_timeout_s``,
or the port's device file disappears. The node then stops with a ``FatalNodeError`` (exit status 1
from ``ros2 run``): it does not reconnect on its own, because motors that lost power or were
re-plugged come back with torque off and default settings, and the operator should look at the
hand before it moves again; restarting the node (by hand or a launch respawn) opens, checks and
configures the bus from scratch and holds the hand where it is.
"""
from __future__ import annotations

import os
import time

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from diagnostic_msgs.msg import DiagnosticArray
from std_msgs.msg import Empty, String

from dexndm_control.ros.node_main import FatalNodeError, spin
from dexndm_control.ros.diagnostics import hand_diagnostics
from dexndm_control.ros.params import declare_from_file
from dexndm_control.runtime.joint_state_io import command_targets, make_joint_state
from dexndm_control.drivers.leap.bus import LeapBusError, LeapHandBus, MotorFault
from dexndm_learning import joint_order

MIN_PUBLISH_RATE_HZ = 100.0
ERROR_LOG_PERIOD_S = 1.0
"""Repeated bus errors are logged at most this often (the read loop runs at hundreds of Hz)."""


class LeapHandDriverNode(Node):
    def __init__(self, node_name: str = "leap_driver", **kwargs):
        super().__init__(node_name, **kwargs)
        declare_from_file(self, "leap_driver", "leap_driver.yaml")
        p = lambda name: self.get_parameter(name).value  # noqa: E731

        rate = float(p("publish_rate_hz"))
        if rate < MIN_PUBLISH_RATE_HZ:
            raise ValueError(f"publish_rate_hz must be >= {MIN_PUBLISH_RATE_HZ}, got {rate}")
        self.frame_id = p("frame_id")
        self.rejected_commands = 0
        self.bus_errors = 0
        self.port = p("port")
        self.disconnect_timeout_s = float(p("disconnect_timeout_s"))
        try:
            self.bus = LeapHandBus(p("port"), p("baudrate"), kp=p("kp"), ki=p("ki"), kd=p("kd"),
                                   current_limit_ma=p("current_limit_ma"), retries=p("retries")).open()
        except Exception:
            super().destroy_node()   # no bus to close yet
            raise
        self._last_read = time.monotonic()          # after open: a slow open must not count as silence
        self.state_pub = self.create_publisher(JointState, p("state_topic"), 10)
        self.target_pub = self.create_publisher(JointState, p("target_topic"), 10)
        self.create_subscription(JointState, p("command_topic"), self._on_command, 10)
        self.fault_pub = self.create_publisher(String, p("fault_topic"),
                                               QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self.fault_pub.publish(String(data=""))
        self._reported_fault: MotorFault | None = None
        self.create_subscription(Empty, p("reboot_topic"), self._on_reboot, 1)
        self.create_timer(1.0 / rate, self._tick)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._last_current = np.zeros(joint_order.NUM_JOINTS)
        self._diag_reads, self._diag_time = 0, time.monotonic()
        self.create_timer(float(p("diagnostics_period_s")), self._publish_diagnostics)
        self.get_logger().info(f"LEAP Hand on {p('port')} at {p('baudrate')} baud, torque on; "
                               f"state {p('state_topic')} at {rate:g} Hz, commands {p('command_topic')}, "
                               f"targets {p('target_topic')}")

    def _on_command(self, msg: JointState) -> None:
        try:
            self.bus.write_targets(command_targets(msg))
        except joint_order.JointCommandError as exc:
            self.rejected_commands += 1
            self.get_logger().error(f"command refused, previous targets kept: {exc}")
        except MotorFault:
            self.rejected_commands += 1      # said once by _report_fault; the hand stays where it is
        except LeapBusError as exc:
            self._bus_error(exc)

    def _on_reboot(self, _msg: Empty) -> None:
        if self.bus.fault is None:
            self.get_logger().info("reboot requested, but no motor is in fault")
            return
        try:
            ids = self.bus.reboot_faulted()
        except LeapBusError as exc:
            self.get_logger().error(f"reboot failed: {exc}")
            return
        self.get_logger().info(f"motors {ids} rebooted and holding where they are; goals accepted again")
        self._report_fault()

    def _report_fault(self) -> None:
        if self.bus.fault is self._reported_fault:
            return
        self._reported_fault = self.bus.fault
        if self.bus.fault is not None:
            self.get_logger().error(str(self.bus.fault))
        self.fault_pub.publish(String(data="" if self.bus.fault is None else str(self.bus.fault)))

    def _tick(self) -> None:
        try:
            state = self.bus.read_state()
        except LeapBusError as exc:
            self._bus_error(exc)
            gone = not os.path.exists(self.port)
            if gone or time.monotonic() - self._last_read > self.disconnect_timeout_s:
                why = f"the port {self.port} is gone" if gone else f"no read for {self.disconnect_timeout_s:g} s"
                raise FatalNodeError(f"LEAP Hand bus lost ({why}; last error: {exc}); no goals are written. "
                                     "Check the cable and power, then start the driver again") from exc
            return
        self._last_read = time.monotonic()
        self._last_current = state.current_ma
        self._report_fault()
        stamp = self.get_clock().now().to_msg()
        if self.bus.targets is not None:   # set when the bus opened
            self.target_pub.publish(make_joint_state(stamp, self.bus.targets, frame_id=self.frame_id))
        self.state_pub.publish(make_joint_state(
            stamp, state.position, state.velocity, state.current_ma / 1000.0, self.frame_id))

    def _publish_diagnostics(self) -> None:
        health, error = None, ""
        try:
            health = self.bus.read_health()
        except LeapBusError as exc:
            error = str(exc)
        if not error and self.bus.fault is not None:
            error = str(self.bus.fault)
        now, stats = time.monotonic(), self.bus.stats
        bus = {"port": self.port, "read_rate_hz": round((stats.reads - self._diag_reads) / (now - self._diag_time), 1),
               "retried_attempts": stats.retries, "timeouts": stats.timeouts, "corrupt_replies": stats.corrupt,
               "rejected_commands": self.rejected_commands}
        self._diag_reads, self._diag_time = stats.reads, now
        self.diagnostics_pub.publish(hand_diagnostics(self.get_clock().now().to_msg(), {"current_ma": self._last_current},
                                                      health, bus, error))

    def _bus_error(self, exc: LeapBusError) -> None:
        self.bus_errors += 1
        self.get_logger().error(str(exc), throttle_duration_sec=ERROR_LOG_PERIOD_S)

    def destroy_node(self) -> None:
        try:
            self.bus.close()
        except LeapBusError as exc:
            self.get_logger().error(str(exc))
        super().destroy_node()


def main(args=None) -> None:
    spin(LeapHandDriverNode, args)

if __name__ == "__main__":
    main()
