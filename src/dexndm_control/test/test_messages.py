"""Our custom messages cross process boundaries through a real ROS 2 middleware."""
import subprocess
import sys
import textwrap

import rclpy
from dexndm_msgs.msg import PolicyStatus, RotationCommand

from .ros_helpers import ros_context, spin_until

PUBLISHER = textwrap.dedent("""
    import time, rclpy
    from dexndm_msgs.msg import RotationCommand
    rclpy.init()
    node = rclpy.create_node("axis_publisher")
    pub = node.create_publisher(RotationCommand, "/dexndm/rotation_command", 10)
    msg = RotationCommand(mode=RotationCommand.MODE_ROTATE, source="test-process")
    msg.axis.z = -1.0
    end = time.monotonic() + 20
    while time.monotonic() < end:
        pub.publish(msg)
        time.sleep(0.05)
""")


def test_rotation_command_between_two_processes():
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER])
    try:
        got = []
        with ros_context() as (context, executor):
            node = rclpy.create_node("axis_listener", context=context)
            node.create_subscription(RotationCommand, "/dexndm/rotation_command", got.append, 10)
            executor.add_node(node)
            assert spin_until(executor, lambda: len(got) >= 3, timeout=15), "no message from the other process"
        msg = got[-1]
        assert msg.mode == RotationCommand.MODE_ROTATE
        assert msg.source == "test-process"
        assert (msg.axis.x, msg.axis.y, msg.axis.z) == (0.0, 0.0, -1.0)
    finally:
        proc.kill()
        proc.wait()


def test_policy_status_fields_and_flags():
    s = PolicyStatus(tick=3, missed_ticks=1, tick_duration_ms=0.7, flags=PolicyStatus.FLAG_ESTOP | PolicyStatus.FLAG_STATE_STALE)
    assert s.flags & PolicyStatus.FLAG_ESTOP and not s.flags & PolicyStatus.FLAG_NONFINITE
    assert {RotationCommand.MODE_OFF, RotationCommand.MODE_ROTATE, RotationCommand.MODE_HOLD} == {0, 1, 2}

