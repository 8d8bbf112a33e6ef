"""Small helpers for tests that run real rclpy nodes in an isolated context."""
from __future__ import annotations

import contextlib
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor


@contextlib.contextmanager
def ros_context():
    """An rclpy context + executor that are always shut down."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        yield context, executor
    finally:
        for node in list(executor.get_nodes()):
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown(context=context)


def spin_until(executor, predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.005)
        if predicate():
            return True
    return predicate()


def spin_for(executor, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.005)
