"""The one rclpy set-up/teardown helper (dexndm_control.ros.node_main)."""
import sys

import pytest
import rclpy
from rclpy.node import Node

from dexndm_control.ros.node_main import running, spin, spin_until


class Counting(Node):
    destroyed = []

    def __init__(self, name="counting", **kwargs):
        super().__init__(name, **kwargs)
        self.label, self.ticks = name, 0
        self.create_timer(0.001, self._tick)

    def _tick(self):
        self.ticks += 1

    def destroy_node(self):
        Counting.destroyed.append(self.label)
        return super().destroy_node()


def test_running_destroys_every_node_and_shuts_down_even_on_error():
    Counting.destroyed.clear()
    with pytest.raises(RuntimeError, match="boom"):
        with running(lambda context: [Counting("a", context=context)]) as (executor, (a,)):
            executor.add_node(Counting("b", context=executor.context))
            spin_until(executor, lambda: a.ticks >= 3)
            context = executor.context
            raise RuntimeError("boom")
    assert sorted(Counting.destroyed) == ["a", "b"]
    assert not context.ok()


def test_a_node_that_fails_to_start_leaves_the_context_shut_down():
    contexts = []

    def make(context):
        contexts.append(context)
        raise ValueError("bad parameter")

    with pytest.raises(ValueError, match="bad parameter"):
        with running(make):
            pass
    assert not contexts[0].ok()


def test_spin_returns_when_ros_shuts_down():
    class ShutsDown(Counting):
        def _tick(self):
            super()._tick()
            if self.ticks == 5:
                rclpy.shutdown(context=self.context)

    Counting.destroyed.clear()
    spin(lambda context: ShutsDown("entry", context=context))
    assert "entry" in Counting.destroyed
    assert not rclpy.get_default_context().ok()


def test_a_shutdown_landing_just_before_the_executor_waits_ends_an_entry_point_cleanly(monkeypatch):
    """The race behind a flaky SIGTERM: rclpy's signal handler shuts the context down after spin
    checked it and before the next wait set is made (an RCLError from rclpy)."""
    from rclpy.executors import SingleThreadedExecutor

    original = SingleThreadedExecutor._wait_for_ready_callbacks

    def shut_down_then_wait(self, *args, **kwargs):
        if self.get_nodes()[0].ticks >= 3:
            rclpy.shutdown(context=self.context)    # what the signal handler does, at the worst moment
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SingleThreadedExecutor, "_wait_for_ready_callbacks", shut_down_then_wait)
    Counting.destroyed.clear()
    spin(lambda context: Counting("raced", context=context))
    assert "raced" in Counting.destroyed
    assert not rclpy.get_default_context().ok()


def test_a_fatal_node_error_ends_an_entry_point_with_status_1(capsys):
    from dexndm_control.ros.node_main import FatalNodeError

    class Fails(Counting):
        def _tick(self):
            raise FatalNodeError("the bus is gone")

    with pytest.raises(SystemExit) as exit_:
        spin(lambda context: Fails("entry", context=context))
    assert exit_.value.code == 1 and "fatal: the bus is gone" in capsys.readouterr().err


NODE_SCRIPT = """
import sys, pathlib
from rclpy.node import Node
from dexndm_control.ros.node_main import spin

class Marked(Node):
    def __init__(self, **kw):
        super().__init__("marked", **kw)
        self.create_timer(0.01, lambda: pathlib.Path(sys.argv[1] + ".up").touch())
    def destroy_node(self):
        pathlib.Path(sys.argv[1] + ".destroyed").touch()
        return super().destroy_node()

spin(Marked)
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_entry_point_stopped_by_a_signal_destroys_its_node(tmp_path, sig):
    """What ros2 launch sends on Ctrl-C / shutdown: the node's destroy_node must run (the LEAP
    driver drops torque there, the recorder closes its bag)."""
    import signal
    import subprocess
    import sys
    import time

    mark = tmp_path / "node"
    proc = subprocess.Popen([sys.executable, "-c", NODE_SCRIPT, str(mark)])
    deadline = time.monotonic() + 30
    while not mark.with_suffix(".up").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(getattr(signal, sig))
    assert proc.wait(timeout=30) == 0
    assert mark.with_suffix(".destroyed").exists()


def test_a_private_graph_talks_inside_but_not_to_another_process():
    """Two processes publish on one topic and domain; each graph also listens to it. A private
    graph hears only itself, a plain one hears both."""
    import subprocess
    import textwrap

    script = textwrap.dedent("""
        import sys, time
        from std_msgs.msg import String
        from rclpy.node import Node
        from dexndm_control.ros.node_main import running
        me, private = sys.argv[1], sys.argv[2] == "1"
        got = set()
        def make(context):
            a, b = Node("talker_" + me, context=context), Node("listener_" + me, context=context)
            b.create_subscription(String, "/private_probe", lambda m: got.add(m.data), 10)
            make.pub = a.create_publisher(String, "/private_probe", 10)
            return [a, b]
        with running(make, private=private) as (executor, _):
            end = time.monotonic() + 4.0
            while time.monotonic() < end:
                make.pub.publish(String(data=me))
                executor.spin_once(timeout_sec=0.05)
        print(",".join(sorted(got)))
    """)
    for private, want in (("1", {"P": "P", "Q": "Q"}), ("0", {"P": "P,Q", "Q": "P,Q"})):
        procs = {me: subprocess.Popen([sys.executable, "-c", script, me, private], stdout=subprocess.PIPE, text=True)
                 for me in ("P", "Q")}
        heard = {me: p.communicate(timeout=60)[0].strip() for me, p in procs.items()}
        assert heard == want, (private, heard)
    with pytest.raises(ValueError, match="private"):
        with running(lambda context: [], isolated=False, private=True):
            pass
