"""Entry-point helper shared by every node: init, spin until Ctrl-C, always clean up."""
from __future__ import annotations

from typing import Callable

import rclpy
from rclpy.node import Node


def spin(make_node: Callable[[], Node], args=None) -> None:
    """``ros2 run`` / ``ros2 launch`` entry (parameters come from --params-file) or a CLI command."""
    rclpy.init(args=args)
    try:
        node = make_node()
        try:
            rclpy.spin(node)
        except KeyboardInterrupt:
            pass
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown()
