"""The rotation policy node on ROS topics: wiring of each safety input, timing, a composed run on
the simulated hand holding an object."""
import math
import time

import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import JointState
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import Bool, String

from dexndm_control import graphs
from dexndm_control.commands import rotate_run
from dexndm_control.graphs.composition import compose
from dexndm_control.runtime.joint_state_io import make_joint_state
from dexndm_control.ros.params import node_parameters
from dexndm_control.nodes.policy_node import PolicyNode
from dexndm_control.runtime.policy_runtime import Flag, StartSource
from dexndm_control.testing.policies import constant_policy, random_policy
from dexndm_learning import joint_order as jo
from dexndm_control.ros.params import runtime_config_dir
from dexndm_msgs.msg import PolicyStatus, RotationCommand

from .ros_helpers import ros_context, spin_for, spin_until

Q0 = jo.CANONICAL_GRASP


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


class Harness:
    """Policy node + a client that plays the hand (states at 100 Hz) and the operator."""

    def __init__(self, context, executor, base, residual="", **overrides):
        self.policy = PolicyNode(context=context, parameter_overrides=node_parameters(
            "rotation_policy", {"base_policy": str(base), "residual_policy": str(residual), **overrides},
            runtime_config_dir() / "policy.yaml"))
        self.client = rclpy.create_node("test_client", context=context)
        self.q = Q0.copy()
        self.publish_states = True
        self.commands, self.status = [], []
        c = self.client
        self.state_pub = c.create_publisher(JointState, "/leap_hand/joint_states", 10)
        self.hand_target_pub = c.create_publisher(JointState, "/leap_hand/joint_targets", 10)
        self.cmd_pub = c.create_publisher(RotationCommand, "/dexndm/rotation_command", 10)
        self.enable_pub = c.create_publisher(Bool, "/dexndm/policy_enable", 10)
        self.estop_pub = c.create_publisher(Bool, "/dexndm/estop", 10)
        c.create_subscription(JointState, "/leap_hand/joint_commands", self.commands.append, 100)
        c.create_subscription(PolicyStatus, "/dexndm/policy_status", self.status.append, 100)
        c.create_timer(0.01, self._publish_state)
        executor.add_node(self.policy)
        executor.add_node(c)
        self.executor = executor

    def _publish_state(self):
        if self.publish_states:
            self.state_pub.publish(make_joint_state(self.client.get_clock().now().to_msg(), self.q))

    def rotate(self, mode=RotationCommand.MODE_ROTATE, axis=(0.0, 0.0, 1.0)):
        msg = RotationCommand(mode=mode, source="test")
        msg.axis.x, msg.axis.y, msg.axis.z = axis
        self.cmd_pub.publish(msg)

    def spin_until(self, predicate, timeout=20.0):
        assert spin_until(self.executor, predicate, timeout)

    def flags(self):
        return Flag(self.status[-1].flags)

    def targets(self):
        return np.array([jo.reorder_by_names(m.position, m.name) for m in self.commands])


@pytest.fixture
def artifacts(tmp_path):
    return {
        "base": random_policy(tmp_path / "base.pt", "base"),
        "residual": random_policy(tmp_path / "residual.pt", "residual", seed=1),
        "up": constant_policy(tmp_path / "up.pt", "base", 1.0),
        "zero": constant_policy(tmp_path / "zero.pt", "base", 0.0),
        "nan": constant_policy(tmp_path / "nan.pt", "base", math.nan),
    }


def test_commands_flow_with_base_and_residual(artifacts):
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["base"], artifacts["residual"])
        h.spin_until(lambda: len(h.status) > 0)
        assert h.commands == [] and h.flags() & Flag.DISABLED      # no command yet: nothing published
        h.rotate()
        h.spin_until(lambda: len(h.commands) > 10)
        msg = h.commands[-1]
        assert list(msg.name) == list(jo.JOINT_NAMES) and jo.within_limits(msg.position)
        last = h.status[-1]
        assert last.residual_action_norm > 0 and last.base_action_norm > 0 and last.tick_duration_ms > 0
        assert last.residual_scale == 1.0                              # no gate in this residual
        assert [s.tick for s in h.status] == list(range(len(h.status)))


@pytest.mark.realtime
def test_commands_and_status_come_at_20hz(artifacts):
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["base"], artifacts["residual"])
        h.rotate()
        h.spin_until(lambda: len(h.commands) > 0)
        n0, s0 = len(h.commands), len(h.status)
        spin_for(executor, 1.0)
        assert 17 <= len(h.status) - s0 <= 22 and 17 <= len(h.commands) - n0 <= 22
        last = h.status[-1]
        assert 0 < last.tick_duration_ms < 50 and 40 < last.period_ms < 60


def test_limits_and_step_cap_on_the_wire(artifacts):
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["up"], max_step_rad=0.01)
        h.rotate()
        h.spin_until(lambda: len(h.commands) > 5)
        t = h.targets()
        assert np.abs(np.diff(t, axis=0)).max() <= 0.01 + 1e-9
        assert all(jo.within_limits(q) for q in t)
        assert h.flags() & Flag.STEP_CAPPED


def test_nan_policy_never_publishes_nan(artifacts):
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["nan"])
        h.rotate()
        h.spin_until(lambda: len(h.commands) > 3)
        assert np.all(np.isfinite(h.targets()))
        np.testing.assert_allclose(h.targets()[-1], Q0)      # the state it started from, held
        assert h.flags() & Flag.NONFINITE


def test_stale_states_hold_the_last_safe_target(artifacts):
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["base"], state_timeout_s=0.1)
        h.rotate()
        h.spin_until(lambda: len(h.commands) > 2)
        h.publish_states = False
        h.spin_until(lambda: h.flags() & Flag.STATE_STALE)
        n = len(h.commands)
        h.spin_until(lambda: len(h.commands) > n + 2)
        t = h.targets()[n - 1:]
        np.testing.assert_array_equal(t, np.broadcast_to(t[0], t.shape))
        h.publish_states = True
        h.spin_until(lambda: not h.flags() & Flag.STATE_STALE)


def test_estop_latches_and_resets_with_false_then_enable(artifacts):
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["up"])
        h.rotate()
        h.spin_until(lambda: len(h.commands) > 1)
        h.estop_pub.publish(Bool(data=True))
        h.spin_until(lambda: h.flags() & Flag.ESTOP)
        held = h.targets()[-1]
        h.enable_pub.publish(Bool(data=True))            # ignored while the e-stop input is true
        h.estop_pub.publish(Bool(data=False))            # releasing alone does not reset
        spin_for(executor, 0.3)
        assert h.flags() & Flag.ESTOP
        np.testing.assert_array_equal(h.targets()[-1], held)
        h.enable_pub.publish(Bool(data=True))
        h.spin_until(lambda: not h.flags() & (Flag.ESTOP | Flag.DISABLED))
        h.spin_until(lambda: np.any(h.targets()[-1] != held))


def test_enable_topic_disables_and_reenables(artifacts):
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["base"])
        h.rotate()
        h.spin_until(lambda: len(h.commands) > 1)
        h.enable_pub.publish(Bool(data=False))
        h.spin_until(lambda: h.flags() == Flag.DISABLED)
        h.enable_pub.publish(Bool(data=True))
        h.spin_until(lambda: not h.flags() & Flag.DISABLED)
        h.rotate(RotationCommand.MODE_OFF)
        h.spin_until(lambda: h.flags() & Flag.DISABLED)


def test_starts_from_the_hand_targets_when_they_arrive(artifacts, capfd):
    """A zero-action policy keeps commanding the hand's targets (bumpless), not the measured q;
    targets with NaN or without our names are ignored."""
    grasp = jo.clip_to_limits(Q0 + 0.08 * jo.FLEXION_JOINTS)
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["zero"])
        sent = [np.full(16, np.nan)]
        h.client.create_timer(0.01, lambda: h.hand_target_pub.publish(
            make_joint_state(h.client.get_clock().now().to_msg(), sent[0])))
        h.spin_until(lambda: h.policy.ignored_messages > 0)
        assert h.policy.runtime.hand_target is None
        sent[0] = grasp
        h.spin_until(lambda: h.policy.runtime.hand_target is not None)
        h.rotate()
        h.spin_until(lambda: len(h.commands) > 3)
        assert h.policy.runtime.started_from == StartSource.HAND_TARGETS
        np.testing.assert_allclose(h.targets(), np.broadcast_to(grasp, h.targets().shape), atol=1e-6)
    assert "policy started from hand targets" in capfd.readouterr().err


def test_starts_from_the_measured_joints_without_hand_targets(artifacts, capfd):
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["zero"])
        h.rotate()
        h.spin_until(lambda: len(h.commands) > 1)
        assert h.policy.runtime.started_from == StartSource.MEASURED
        np.testing.assert_allclose(h.targets()[-1], jo.clip_to_limits(Q0), atol=1e-6)
    assert "policy started from measured joint positions" in capfd.readouterr().err


@pytest.mark.realtime
def test_missed_ticks_are_counted(artifacts):
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["base"])
        h.rotate()
        h.spin_until(lambda: len(h.status) > 2)
        blocker = rclpy.create_node("blocker", context=context)
        blocked = []

        def block():
            if not blocked:
                blocked.append(True)
                time.sleep(0.23)                          # 4.6 periods of 50 ms
        blocker.create_timer(0.01, block)
        executor.add_node(blocker)
        h.spin_until(lambda: blocked and h.status[-1].missed_ticks > 0)
        assert 3 <= h.status[-1].missed_ticks <= 5
        assert h.status[-1].period_ms > 150


def run_graph(specs, targets: int):
    """Compose ``specs`` with a recorder and spin until the policy has sent ``targets`` targets;
    the recording and the (destroyed) nodes."""
    with ros_context() as (context, executor):
        nodes = compose(specs, context)
        recorder = rotate_run.RotationRecorder(context=context)
        for n in (*nodes, recorder):
            executor.add_node(n)
        assert spin_until(executor, lambda: len(recorder.rec.target_t) >= targets, 60)
        return recorder.rec, nodes


def test_composed_rotate_graph_on_the_simulated_hand_with_an_object(artifacts):
    specs = graphs.build("rotate", wrist="palm_down", sim=True, base=str(artifacts["base"]),
                         residual=str(artifacts["residual"]))
    rec, nodes = run_graph(specs, 30)
    assert len(rec.pose_t) > len(rec.target_t)                        # the hand publishes faster than the policy
    assert rec.status[-1].residual_action_norm > 0
    policy = next(n for n in nodes if isinstance(n, PolicyNode))
    assert policy.runtime.started_from == StartSource.HAND_TARGETS   # the grasp's targets, wired by default


def test_a_hand_motor_alarm_holds_the_policy_until_it_is_cleared(artifacts):
    with ros_context() as (context, executor):
        h = Harness(context, executor, artifacts["up"])
        fault = h.client.create_publisher(String, "/leap_hand/fault",
                                          QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        h.rotate()
        h.spin_until(lambda: len(h.commands) > 1)
        fault.publish(String(data="motor 9 (rf_mcp): overload"))
        h.spin_until(lambda: h.flags() & Flag.HARDWARE_FAULT)
        n = len(h.commands)
        h.spin_until(lambda: len(h.commands) > n + 3)
        t = h.targets()[n - 1:]
        np.testing.assert_array_equal(t, np.broadcast_to(t[0], t.shape))          # held
        fault.publish(String(data=""))
        h.spin_until(lambda: not h.flags() & Flag.HARDWARE_FAULT)
        h.spin_until(lambda: np.any(h.targets()[-1] != t[0]))                   # moving again
