"""Rotation commander (``rotation_commander``): a fixed RotationCommand, repeated at ``rate_hz``.

Stands in for teleoperation when the axis is known in advance (``dexndm rotate``, the rotate
launch graph): ``mode`` rotate | hold | off, ``axis`` (x, y, z) in the world frame, source "script".
"""
from __future__ import annotations

import numpy as np
from rclpy.node import Node

from dexndm_control.ros.node_main import spin
from dexndm_control.ros.params import declare_from_file
from dexndm_learning.config import ConfigError
from dexndm_msgs.msg import RotationCommand

MODES = {"off": RotationCommand.MODE_OFF, "rotate": RotationCommand.MODE_ROTATE, "hold": RotationCommand.MODE_HOLD}


class RotationCommander(Node):
    def __init__(self, node_name: str = "rotation_commander", **kwargs):
        super().__init__(node_name, **kwargs)
        declare_from_file(self, "rotation_commander", "rotation_commander.yaml")
        p = lambda name: self.get_parameter(name).value  # noqa: E731

        axis = np.asarray(p("axis"), dtype=float)
        if axis.shape != (3,) or not np.all(np.isfinite(axis)) or np.linalg.norm(axis) < 1e-6:
            raise ConfigError(f"axis must be 3 finite numbers, not all zero; got {p('axis')}")
        if p("mode") not in MODES:
            raise ConfigError(f"mode must be one of {list(MODES)}, got '{p('mode')}'")
        self.msg = RotationCommand(mode=MODES[p("mode")], source="script")
        self.msg.axis.x, self.msg.axis.y, self.msg.axis.z = (float(v) for v in axis / np.linalg.norm(axis))
        self.pub = self.create_publisher(RotationCommand, p("command_topic"), 10)
        self.create_timer(1.0 / float(p("rate_hz")), self._tick)

    def _tick(self) -> None:
        self.msg.header.stamp = self.get_clock().now().to_msg()
        self.pub.publish(self.msg)


def main(args=None) -> None:
    spin(RotationCommander, args)

if __name__ == "__main__":
    main()
