import numpy as np
import pytest
from sensor_msgs.msg import JointState

from dexndm_control.runtime.joint_state_io import make_joint_state
from dexndm_control.ros.params import node_parameters
from dexndm_control.nodes.sim_hand_node import SimHandNode
from dexndm_learning import joint_order as jo

from .ros_helpers import ros_context, spin_for, spin_until

# Abduction 0.15 rad: with the fingers straight, hand v2's full-length fingertips touch their
# neighbour's at about 0.17-0.21 rad (v1's short ones never did).
STEPS = 0.5 * jo.FLEXION_JOINTS + np.array([0, 0.15, 0, 0] * 3 + [0.5, 0.5, 0, 0])


class Harness:
    def __init__(self, context, executor, **overrides):
        import rclpy

        self.hand = SimHandNode(context=context, parameter_overrides=node_parameters("sim_hand", overrides))
        self.client = rclpy.create_node("test_client", context=context)
        self.states = []
        self.client.create_subscription(JointState, "/leap_hand/joint_states", self.states.append, 100)
        self.targets = []
        self.client.create_subscription(JointState, "/leap_hand/joint_targets", self.targets.append, 100)
        self.pub = self.client.create_publisher(JointState, "/leap_hand/joint_commands", 10)
        executor.add_node(self.hand)
        executor.add_node(self.client)
        self.executor = executor

    def command(self, q, names=None):
        msg = make_joint_state(self.client.get_clock().now().to_msg(), q)
        if names is not None:
            msg.name = names
        self.pub.publish(msg)


@pytest.mark.realtime
def test_publishes_joint_states_at_100hz_or_more():
    with ros_context() as (context, executor):
        h = Harness(context, executor)
        assert spin_until(executor, lambda: len(h.states) > 0, 5)
        n0 = len(h.states)
        spin_for(executor, 1.0)
        rate = len(h.states) - n0
        assert rate >= 100, f"{rate} JointState messages in 1 s"
        msg = h.states[-1]
        assert list(msg.name) == list(jo.JOINT_NAMES)
        assert len(msg.position) == len(msg.velocity) == len(msg.effort) == 16


@pytest.mark.parametrize("rtf", [1.0, 2.0])
def test_simulated_time_keeps_pace_with_the_wall_clock_and_drops_a_backlog(rtf):
    """On an injected clock: each tick steps the physics up to wall time x rtf and publishes one
    state; after a stall longer than MAX_CATCH_UP_S the backlog is dropped (one step, one lag event)."""
    wall = [50.0]
    with ros_context() as (context, executor):
        hand = SimHandNode(context=context, now=lambda: wall[0],
                           parameter_overrides=node_parameters("sim_hand", {"real_time_factor": rtf}))
        published = []
        hand.state_pub.publish = published.append
        dt, t0 = hand.sim.timestep, hand.sim.time
        for _ in range(120):
            wall[0] += 1 / 120
            hand._tick()
        assert len(published) == 120
        assert hand.sim.time - t0 == pytest.approx(rtf * 1.0, abs=dt)
        before = hand.sim.time
        wall[0] += 1.0                                 # the process stalled for a second
        hand._tick()
        assert hand.lag_events == 1 and hand.sim.time - before == pytest.approx(dt, abs=1e-9)
        wall[0] += 1 / 120
        hand._tick()
        assert hand.sim.time - before == pytest.approx(dt + rtf / 120, abs=dt)


def test_publishes_the_targets_in_force_with_every_state():
    with ros_context() as (context, executor):
        h = Harness(context, executor, real_time_factor=4.0)
        assert spin_until(executor, lambda: len(h.targets) > 10, 5)
        assert abs(len(h.targets) - len(h.states)) <= 2
        msg = h.targets[-1]
        assert list(msg.name) == list(jo.JOINT_NAMES) and msg.header.frame_id == "palm"
        np.testing.assert_array_equal(msg.position, jo.OPEN_POSE)
        target = jo.OPEN_POSE + 0.5 * jo.FLEXION_JOINTS
        h.command(target)
        assert spin_until(executor, lambda: np.allclose(h.targets[-1].position, target), 3)


def test_tracks_a_step_on_every_joint_one_at_a_time():
    """From the open pose each joint reaches its step target within 0.05 rad within 1 s of sim
    time (real-time factor 4 keeps the test short)."""
    rtf = 4.0
    with ros_context() as (context, executor):
        h = Harness(context, executor, real_time_factor=rtf)
        assert spin_until(executor, lambda: len(h.states) > 0, 5)
        for j in range(16):
            h.command(jo.OPEN_POSE)
            assert spin_until(executor, lambda: np.abs(np.asarray(h.states[-1].position)).max() < 0.05, 1.0)
            target = jo.OPEN_POSE.copy()
            target[j] = STEPS[j]
            h.command(target)
            reached = spin_until(executor, lambda j=j, target=target: abs(h.states[-1].position[j] - target[j]) < 0.05,
                                 1.0 / rtf + 0.15)
            assert reached, f"{jo.JOINT_NAMES[j]} at {h.states[-1].position[j]:.3f}, target {target[j]:.3f}"
            assert h.hand.sim.self_contacts() == []


def test_commands_by_name_in_any_order():
    with ros_context() as (context, executor):
        h = Harness(context, executor, real_time_factor=4.0)
        target = jo.OPEN_POSE.copy()
        target[jo.JOINT_NAMES.index("th_axl")] = 0.6
        names = list(reversed(jo.JOINT_NAMES))
        h.command(target[::-1], names=names)
        assert spin_until(executor, lambda: h.hand.sim.targets[13] == pytest.approx(0.6), 3)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, 5.0, -2.0])
def test_refuses_unsafe_commands_and_keeps_previous_targets(bad_value, capfd):
    with ros_context() as (context, executor):
        h = Harness(context, executor, real_time_factor=4.0)
        good = jo.OPEN_POSE.copy()
        good[0] = 0.4
        h.command(good)
        assert spin_until(executor, lambda: h.hand.sim.targets[0] == pytest.approx(0.4), 3)
        bad = good.copy()
        bad[2] = bad_value
        h.command(bad)
        assert spin_until(executor, lambda: h.hand.rejected_commands == 1, 3)
        spin_for(executor, 0.3)
        np.testing.assert_array_equal(h.hand.sim.targets, good)
        assert np.all(np.isfinite(h.states[-1].position))
    err = capfd.readouterr().err
    assert "command refused" in err and "if_pip" in err


def test_refuses_wrong_joint_count():
    with ros_context() as (context, executor):
        h = Harness(context, executor)
        h.command(np.zeros(12))
        assert spin_until(executor, lambda: h.hand.rejected_commands == 1, 3)
        np.testing.assert_array_equal(h.hand.sim.targets, jo.OPEN_POSE)


def test_the_simulated_hand_publishes_diagnostics_with_the_real_drivers_names():
    from diagnostic_msgs.msg import DiagnosticArray

    with ros_context() as (context, executor):
        h = Harness(context, executor, diagnostics_period_s=0.1)
        got = []
        h.client.create_subscription(DiagnosticArray, "/diagnostics", got.append, 10)
        assert spin_until(executor, lambda: len(got) >= 2, 5)
        names = [s.name for s in got[-1].status]
        assert names[0] == "leap_hand: motor 0 (if_rot)" and names[-1] == "leap_hand: bus" and len(names) == 17
        assert "effort_nm" in {kv.key for kv in got[-1].status[0].values}
