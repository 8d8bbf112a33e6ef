"""Small helpers for tests that run real rclpy nodes in an isolated context."""
from __future__ import annotations

import contextlib
import time

from dexndm_control.ros.node_main import running


@contextlib.contextmanager
def ros_context():
    """An isolated rclpy context + executor; every node added to it is destroyed at the end."""
    with running(lambda context: []) as (executor, _):
        yield executor.context, executor


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
