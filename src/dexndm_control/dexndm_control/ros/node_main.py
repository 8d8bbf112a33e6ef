"""rclpy set-up and teardown, written once: every node entry point, CLI command and in-process
graph (demo, rotate, Chaos Box collection, teleop) runs its nodes through ``running``.

- ``spin(make_node)`` / ``serve(make_nodes)``: a ``ros2 run`` / ``ros2 launch`` entry point
  (parameters from --params-file) or a CLI command, on the default context with rclpy's
  SIGINT/SIGTERM handling, until shut down.
- ``running(make_nodes, isolated=True)``: nodes of an in-process graph in a context of their own
  and no rclpy signal handlers (the caller decides what a signal means), driven by the caller
  with ``spin_until``. ``private=True`` also keeps the graph to itself: its participant is created
  with ``ROS_AUTOMATIC_DISCOVERY_RANGE=OFF``, so it neither sees nor disturbs other processes on
  the same ROS domain (two sim-to-sim pipelines on one machine would otherwise exchange joint
  states and commands and record each other's).

A node that cannot go on (``FatalNodeError``, e.g. the LEAP Hand's cable pulled) ends ``serve`` and
``spin`` with its message on stderr and exit status 1, so a launch file's respawn or an operator
sees it.

On leaving, also on an error or Ctrl-C, each node is removed from the executor and destroyed
(the bag recorder closes its open bag there, the LEAP driver drops torque), also after rclpy's
signal handler shut the context down; then the executor and the context shut down. Plain
``rclpy.init`` / ``try_shutdown`` rather than rclpy's context managers, which Jazzy lacks.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions


class FatalNodeError(RuntimeError):
    """Raised from a node's callback when the node cannot continue; ends the process with status 1."""


@contextmanager
def running(make_nodes: Callable[[Context], Sequence[Node]], args=None, isolated: bool = True,
            private: bool = False) -> Iterator[tuple[SingleThreadedExecutor, list[Node]]]:
    """Yields (executor, nodes) with the nodes ``make_nodes(context)`` returns added to the executor."""
    if private and not isolated:
        raise ValueError("a private graph needs a context of its own (isolated=True)")
    own = rclpy.Context() if isolated else None          # None: the default context (what ros2 run uses)
    with _discovery_off(private):                        # read when the context's participant is made
        rclpy.init(args=args, context=own, signal_handler_options=SignalHandlerOptions.NO if isolated else None)
    context = own or rclpy.get_default_context()
    executor = SingleThreadedExecutor(context=context)
    nodes: list[Node] = []
    try:
        nodes = list(make_nodes(context))
        for n in nodes:
            executor.add_node(n)
        yield executor, nodes
    finally:
        # Always, also after rclpy's SIGINT/SIGTERM handler shut the context down (its own cleanup
        # then does not run): the LEAP driver drops torque and the recorder closes its bag here.
        for n in dict.fromkeys([*nodes, *executor.get_nodes()]):     # also nodes the caller added later
            try:
                executor.remove_node(n)
            except Exception:  # noqa: BLE001 - a node already removed or a context already gone
                pass
            try:
                n.destroy_node()
            except Exception as exc:  # noqa: BLE001 - one node's failure must not keep the others up
                print(f"destroying node {type(n).__name__}: {exc}", file=sys.stderr)
        executor.shutdown()
        rclpy.try_shutdown(context=own)         # the default one is then replaced for a next init


@contextmanager
def _discovery_off(on: bool) -> Iterator[None]:
    key = "ROS_AUTOMATIC_DISCOVERY_RANGE"
    before = os.environ.get(key)
    if on:
        os.environ[key] = "OFF"
    try:
        yield
    finally:
        if on and before is None:
            os.environ.pop(key, None)
        elif on:
            os.environ[key] = before


def spin_until(executor: SingleThreadedExecutor, done: Callable[[], bool], timeout_sec: float = 0.01) -> None:
    """Process callbacks until ``done()`` is true (checked after each wait of at most ``timeout_sec``)."""
    while not done():
        executor.spin_once(timeout_sec=timeout_sec)


def serve(make_nodes: Callable[[Context], Sequence[Node]], args=None) -> None:
    """Spin the nodes until Ctrl-C or a shutdown, on the default context with rclpy's signal
    handling (as ``ros2 run`` would); always cleaned up."""
    try:
        with running(make_nodes, args=args, isolated=False) as (executor, _):
            _spin_until_shut_down(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except FatalNodeError as exc:
        print(f"fatal: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _spin_until_shut_down(executor: SingleThreadedExecutor) -> None:
    """``executor.spin()``; a shutdown by rclpy's signal handler that lands between spin's check of
    the context and its next wait (rclpy then fails to make the wait set: an RCLError) ends it like
    any other shutdown instead of escaping as a crash."""
    try:
        executor.spin()
    except _rclpy.RCLError:
        if executor.context.ok():
            raise


def spin(make_node: Callable[..., Node], args=None) -> None:
    """A node's entry point: ``make_node(context=...)`` served until shut down."""
    serve(lambda context: [make_node(context=context)], args)
