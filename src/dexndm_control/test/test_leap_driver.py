"""LEAP Hand driver through the real dynamixel_sdk against an emulated Protocol 2.0 bus on a pty."""
from __future__ import annotations

import math
import random
import time

import numpy as np
import pytest
import rclpy
from dynamixel_sdk import PacketHandler
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Empty, String

from dexndm_control.runtime.joint_state_io import make_joint_state
from dexndm_control.drivers.leap.bus import RAD_PER_TICK, LeapBusError, LeapHandBus, MotorFault
from dexndm_control.nodes.leap_driver_node import LeapHandDriverNode
from dexndm_control.ros.params import node_parameters
from dexndm_control.testing.fake_dynamixel import (HW_ELECTRICAL_SHOCK, HW_INPUT_VOLTAGE, HW_OVERHEATING, HW_OVERLOAD,
                                                   SYNC_READ, FakeDynamixelBus, Fault, crc16)
from dexndm_learning import joint_order
from dexndm_learning.joint_order import JOINT_NAMES, JointCommandError

from .ros_helpers import ros_context, spin_until

FLAT = 2048
"""Motor ticks of a flat joint (motor angle pi)."""
J = {name: i for i, name in enumerate(JOINT_NAMES)}


@pytest.fixture
def fake():
    """A still bus (no motion): present registers change only when a test sets them."""
    with FakeDynamixelBus(time_constant=None) as bus:
        yield bus


@pytest.fixture
def bus(fake):
    with LeapHandBus(fake.port, retries=2) as hand:
        yield hand


def _settled(predicate, timeout: float = 0.5) -> bool:
    """Sync writes get no reply: wait until the emulator has processed the packet."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def test_emulator_crc_matches_sdk():
    data = bytes(random.Random(0).randrange(256) for _ in range(300))
    assert crc16(data) == PacketHandler(2.0).updateCRC(0, list(data), len(data))


def test_open_configures_every_motor(fake, bus):
    assert fake.get_all("operating_mode") == [5] * 16
    reduced = {0, 4, 8}   # index/middle/ring abduction motors: 0.75 x P and D
    assert fake.get_all("position_p_gain") == [600 if i in reduced else 800 for i in range(16)]
    assert fake.get_all("position_d_gain") == [150 if i in reduced else 200 for i in range(16)]
    assert fake.get_all("position_i_gain") == [0] * 16
    assert fake.get_all("goal_current") == [350] * 16
    assert fake.get_all("torque_enable") == [1] * 16
    assert fake.get_all("goal_position") == [FLAT] * 16   # holds the present (flat) pose


def test_open_takes_over_torqued_motors_and_holds_them_within_limits(fake):
    for i in range(16):
        fake.set(i, "torque_enable", 1)               # left on by a previous run
    fake.set(1, "present_position", FLAT - 1000)      # if_mcp bent past its lower limit
    with LeapHandBus(fake.port) as hand:
        assert fake.get_all("operating_mode") == [5] * 16
        expected = [FLAT] * 16
        expected[1] = FLAT + round(joint_order.LOWER[J["if_mcp"]] / RAD_PER_TICK)
        assert fake.get_all("goal_position") == expected
        assert hand.targets[J["if_mcp"]] == pytest.approx(joint_order.LOWER[J["if_mcp"]])


def test_read_state_converts_units_and_joint_order(fake, bus):
    fake.set(0, "present_position", FLAT + 512)      # motor 0 = index abduction = if_rot
    fake.set(0, "present_velocity", -100)
    fake.set(0, "present_current", -50)
    fake.set(1, "present_position", FLAT + 1024)     # motor 1 = index flexion = if_mcp
    fake.set(13, "present_position", FLAT - 100)     # thumb keeps its slots
    state = bus.read_state()
    expected = np.zeros(16)
    expected[J["if_rot"]] = 512 * RAD_PER_TICK
    expected[J["if_mcp"]] = math.pi / 2
    expected[J["th_axl"]] = -100 * RAD_PER_TICK
    np.testing.assert_allclose(state.position, expected, atol=1e-12)
    assert state.velocity[J["if_rot"]] == pytest.approx(-100 * 0.229 * 2 * math.pi / 60)
    assert state.current_ma[J["if_rot"]] == pytest.approx(-50 * 1.34)
    assert np.count_nonzero(state.velocity) == 1 and np.count_nonzero(state.current_ma) == 1


def test_write_targets_land_on_the_right_motor_registers(fake, bus):
    q = np.zeros(16)
    q[J["if_mcp"]] = 1.0
    q[J["if_rot"]] = -0.5
    q[J["th_ipl"]] = 0.25
    bus.write_targets(q)
    expected = [FLAT] * 16
    expected[1] = FLAT + round(1.0 / RAD_PER_TICK)       # motor 1 = if_mcp
    expected[0] = FLAT + round(-0.5 / RAD_PER_TICK)      # motor 0 = if_rot
    expected[15] = FLAT + round(0.25 / RAD_PER_TICK)     # motor 15 = th_ipl
    assert _settled(lambda: fake.get_all("goal_position") == expected), fake.get_all("goal_position")
    np.testing.assert_array_equal(bus.targets, q)


@pytest.mark.parametrize("bad", [
    np.full(16, np.nan),
    np.where(np.arange(16) == J["mf_pip"], joint_order.UPPER + 0.1, 0.0),
    np.where(np.arange(16) == J["th_cmc"], joint_order.LOWER - 0.1, 0.0),
    np.zeros(15),
])
def test_unsafe_targets_are_refused_and_nothing_is_written(fake, bus, bad):
    good = joint_order.CANONICAL_GRASP
    bus.write_targets(good)
    assert _settled(lambda: fake.get_all("goal_position")[1] != FLAT)
    goals, n_writes = fake.get_all("goal_position"), len(fake.writes)
    with pytest.raises(JointCommandError):
        bus.write_targets(bad)
    time.sleep(0.02)   # a packet, had one been sent, would have landed by now
    assert len(fake.writes) == n_writes
    assert fake.get_all("goal_position") == goals
    np.testing.assert_array_equal(bus.targets, good)


def test_missing_motors_are_listed():
    with FakeDynamixelBus(motor_ids=[i for i in range(16) if i not in (3, 11)]) as fake:
        with pytest.raises(LeapBusError, match=r"motor ids \[3, 11\] did not answer"):
            LeapHandBus(fake.port, retries=0).open()
        assert fake.get_all("torque_enable") == [0] * 14


def test_missing_port_is_named():
    with pytest.raises(LeapBusError, match="/dev/ttyLEAP_missing"):
        LeapHandBus("/dev/ttyLEAP_missing").open()


@pytest.mark.parametrize("kind", list(Fault))
def test_transient_faults_are_retried(fake, bus, kind):
    fake.set(5, "present_position", FLAT + 300)
    before = fake.instructions[SYNC_READ]
    fake.inject(kind, count=2, motor_ids=[5])
    state = bus.read_state()      # retries=2: the third attempt gets through
    assert fake.instructions[SYNC_READ] - before == 3
    assert state.position[J["mf_mcp"]] == pytest.approx(300 * RAD_PER_TICK)   # motor 5


@pytest.mark.parametrize("kind", list(Fault))
def test_persistent_faults_raise(fake, bus, kind):
    fake.inject(kind, count=None, motor_ids=[7])
    with pytest.raises(LeapBusError, match=r"sync read .* after 3 attempts.*motor id 7"):
        bus.read_state()
    fake.clear_faults()
    bus.read_state()              # the bus recovers once the fault clears
    fake.inject(kind, count=None, motor_ids=[7])
    with pytest.raises(LeapBusError, match=r"torque disable failed .* motor ids \[7\]"):
        bus.close()
    assert fake.get_all("torque_enable") == [0] * 16   # motor 7 obeyed; only its status was lost


def test_close_disables_torque(fake):
    bus = LeapHandBus(fake.port).open()
    assert fake.get_all("torque_enable") == [1] * 16
    bus.close()
    assert fake.get_all("torque_enable") == [0] * 16
    bus.close()                   # idempotent
    with pytest.raises(LeapBusError, match="not open"):
        bus.read_state()


@pytest.fixture(scope="module")
def driver_run():
    """The driver node on the emulated bus for 2 s: commands at 20 Hz, the target, then (after
    1 s) one to refuse; what was received and what reached the motors."""
    target = np.zeros(16)
    target[J["if_mcp"]] = 0.8
    target[J["th_cmc"]] = 0.4
    bad = target.copy()
    bad[J["rf_dip"]] = 5.0
    with FakeDynamixelBus(time_constant=0.05) as fake, ros_context() as (context, executor):
        driver = LeapHandDriverNode(
            context=context, parameter_overrides=node_parameters("leap_driver", {"port": fake.port}))
        client = rclpy.create_node("leap_driver_test_client", context=context)
        received = []
        client.create_subscription(JointState, "/leap_hand/joint_states",
                                   lambda m: received.append((time.monotonic(), m)), 100)
        pub = client.create_publisher(JointState, "/leap_hand/joint_commands", 10)
        for node in (driver, client):
            executor.add_node(node)
        t0 = next_command = time.monotonic()
        while time.monotonic() - t0 < 2.0:
            executor.spin_once(timeout_sec=0.005)
            now = time.monotonic()
            if now >= next_command:
                q = target if now - t0 < 1.0 else bad
                pub.publish(make_joint_state(client.get_clock().now().to_msg(), q))
                next_command += 0.05
        goals = fake.get_all("goal_position")
        counts = driver.rejected_commands, driver.bus_errors
        executor.remove_node(driver)
        driver.destroy_node()
        yield {"t0": t0, "received": received, "goals": goals, "counts": counts, "target": target,
               "torque_after": fake.get_all("torque_enable")}


def test_ros_node_forwards_commands_and_refuses_unsafe_ones(driver_run):
    last = driver_run["received"][-1][1]
    assert list(last.name) == list(JOINT_NAMES)
    assert len(last.velocity) == 16 and len(last.effort) == 16
    goals = driver_run["goals"]
    assert goals[1] == FLAT + round(0.8 / RAD_PER_TICK)     # if_mcp = motor 1
    assert goals[12] == FLAT + round(0.4 / RAD_PER_TICK)    # th_cmc = motor 12
    assert goals[11] == FLAT                                # the bad rf_dip never landed
    rejected, bus_errors = driver_run["counts"]
    assert rejected >= 1 and bus_errors == 0
    np.testing.assert_allclose(last.position, driver_run["target"], atol=0.02)   # the motors followed
    assert driver_run["torque_after"] == [0] * 16          # destroying the node released the motors


@pytest.mark.realtime
def test_ros_node_publishes_state_at_100hz_or_more(driver_run):
    window = [t for t, _ in driver_run["received"] if t - driver_run["t0"] > 0.5]
    rate = (len(window) - 1) / (window[-1] - window[0])
    assert rate >= 100.0, rate


def test_ros_node_publishes_the_last_goal_written_as_targets():
    """Targets = the goal set at torque enable (the pose it found), then the last command written;
    a refused command changes nothing. On a still bus the measured pose never follows, so the
    targets cannot come from the state."""
    start = [FLAT] * 16
    start[1] = FLAT + 300                            # motor 1 = if_mcp, bent
    target = np.zeros(16)
    target[J["th_cmc"]] = 0.4
    bad = target.copy()
    bad[J["rf_dip"]] = 5.0
    with FakeDynamixelBus(time_constant=None) as fake, ros_context() as (context, executor):
        fake.set(1, "present_position", start[1])
        driver = LeapHandDriverNode(
            context=context, parameter_overrides=node_parameters("leap_driver", {"port": fake.port}))
        client = rclpy.create_node("leap_driver_test_client", context=context)
        states, targets = [], []
        client.create_subscription(JointState, "/leap_hand/joint_states", states.append, 100)
        client.create_subscription(JointState, "/leap_hand/joint_targets", targets.append, 100)
        pub = client.create_publisher(JointState, "/leap_hand/joint_commands", 10)
        for node in (driver, client):
            executor.add_node(node)

        def positions(msgs):
            return np.asarray(msgs[-1].position) if msgs else np.full(16, np.nan)

        assert spin_until(executor, lambda: len(targets) > 5 and len(states) > 5, 3)
        assert list(targets[-1].name) == list(JOINT_NAMES)
        at_start = np.zeros(16)
        at_start[J["if_mcp"]] = 300 * RAD_PER_TICK
        np.testing.assert_allclose(positions(targets), at_start, atol=1e-12)
        pub.publish(make_joint_state(client.get_clock().now().to_msg(), target))
        assert spin_until(executor, lambda: np.array_equal(positions(targets), target), 3)
        np.testing.assert_allclose(positions(states), at_start, atol=1e-12)   # the motors did not move
        pub.publish(make_joint_state(client.get_clock().now().to_msg(), bad))
        assert spin_until(executor, lambda: driver.rejected_commands == 1, 3)
        n = len(targets)
        assert spin_until(executor, lambda: len(targets) > n + 5, 3)
        np.testing.assert_array_equal(positions(targets), target)
        assert fake.get_all("goal_position")[12] == FLAT + round(0.4 / RAD_PER_TICK)   # th_cmc = motor 12


# --- motor alarms (hardware error status) ------------------------------------------------------------

def _goal_writes(fake) -> int:
    return sum(1 for _, addr, _ in fake.writes if addr == 116)


def test_a_motor_alarm_is_named_and_stops_goal_writes(fake, bus):
    fake.raise_hardware_error(5, HW_OVERLOAD | HW_OVERHEATING)
    bus.read_state()
    assert isinstance(bus.fault, MotorFault) and bus.fault.errors == {5: ["overheating", "overload"]}
    assert "motor 5 (mf_mcp): overheating, overload" in str(bus.fault)
    before = _goal_writes(fake)
    with pytest.raises(MotorFault, match="motor 5"):
        bus.write_targets(np.zeros(16))
    time.sleep(0.05)
    assert _goal_writes(fake) == before                          # nothing reached the motors
    fake.raise_hardware_error(12, HW_INPUT_VOLTAGE)              # a second motor joins the fault
    bus.read_state()
    assert bus.fault.errors == {5: ["overheating", "overload"], 12: ["input voltage"]}


def test_the_operator_reboots_the_faulted_motors_and_they_hold_where_they_are(fake, bus):
    fake.set(5, "present_position", FLAT + 300)
    fake.raise_hardware_error(5, HW_OVERLOAD)
    bus.read_state()
    assert fake.get(5, "torque_enable") == 0
    assert bus.reboot_faulted() == [5]
    assert bus.fault is None and fake.get(5, "hardware_error_status") == 0
    assert fake.get(5, "torque_enable") == 1 and fake.get(5, "goal_position") == FLAT + 300   # held, no jump
    assert fake.instructions[0x08] == 1                                                    # one REBOOT
    bus.write_targets(np.zeros(16))                                                        # goals accepted again
    assert _settled(lambda: fake.get(1, "goal_position") == FLAT)


def test_a_motor_in_alarm_at_start_refuses_to_open(fake):
    fake.raise_hardware_error(3, HW_ELECTRICAL_SHOCK)
    with pytest.raises(MotorFault, match="motor 3 .*electrical shock"):
        LeapHandBus(fake.port, retries=1).open()
    assert fake.get_all("torque_enable") == [0] * 16


def test_the_driver_node_reports_a_motor_alarm_refuses_goals_and_recovers_on_request(capfd):
    with FakeDynamixelBus(time_constant=0.05) as fake, ros_context() as (context, executor):
        driver = LeapHandDriverNode(context=context, parameter_overrides=node_parameters("leap_driver", {"port": fake.port}))
        client = rclpy.create_node("fault_client", context=context)
        faults = []
        client.create_subscription(String, "/leap_hand/fault", lambda m: faults.append(m.data),
                                   QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        cmd = client.create_publisher(JointState, "/leap_hand/joint_commands", 10)
        reboot = client.create_publisher(Empty, "/leap_hand/reboot_motors", 1)
        for node in (driver, client):
            executor.add_node(node)
        assert spin_until(executor, lambda: faults == [""], 5)
        fake.raise_hardware_error(9, HW_OVERLOAD)
        assert spin_until(executor, lambda: len(faults) == 2, 5)
        assert "motor 9 (rf_mcp): overload" in faults[-1]
        goals = _goal_writes(fake)
        target = np.zeros(16)
        target[J["if_mcp"]] = 0.5
        for _ in range(5):
            cmd.publish(make_joint_state(client.get_clock().now().to_msg(), target))
            spin_until(executor, lambda: False, 0.02)
        assert spin_until(executor, lambda: driver.rejected_commands >= 5, 5) and _goal_writes(fake) == goals
        reboot.publish(Empty())
        assert spin_until(executor, lambda: faults[-1] == "", 5)
        assert fake.get(9, "torque_enable") == 1
        cmd.publish(make_joint_state(client.get_clock().now().to_msg(), target))
        assert spin_until(executor, lambda: fake.get(1, "goal_position") == FLAT + round(0.5 / RAD_PER_TICK), 5)
    err = capfd.readouterr().err
    assert err.count("motor 9 (rf_mcp): overload") == 1                 # said once, not at every refused command


# --- a pulled cable ------------------------------------------------------------------------------------

def test_an_unplugged_bus_fails_at_once_and_says_so(fake):
    bus = LeapHandBus(fake.port, retries=2).open()
    fake.unplug()
    for call in (bus.read_state, lambda: bus.write_targets(np.zeros(16))):
        with pytest.raises(LeapBusError, match="unplugged"):
            call()
    with pytest.raises(LeapBusError, match="torque disable failed"):     # said, not hidden
        bus.close()


def test_the_driver_node_stops_when_the_cable_is_pulled():
    from dexndm_control.ros.node_main import FatalNodeError

    with FakeDynamixelBus(time_constant=None) as fake, ros_context() as (context, executor):
        driver = LeapHandDriverNode(context=context, parameter_overrides=node_parameters("leap_driver", {"port": fake.port}))
        executor.add_node(driver)
        spin_until(executor, lambda: False, 0.1)
        fake.unplug()
        with pytest.raises(FatalNodeError, match=f"port {fake.port} is gone"):
            spin_until(executor, lambda: False, 5)


# --- /diagnostics -------------------------------------------------------------------------------------

def test_read_health_reports_temperature_voltage_and_alarms(fake, bus):
    fake.set(3, "present_temperature", 71)
    fake.set(3, "present_input_voltage", 118)
    fake.raise_hardware_error(7, HW_OVERHEATING)
    health = bus.read_health()
    assert (health[3].temperature_c, health[3].input_voltage_v, health[3].hardware_errors) == (71, 11.8, [])
    assert health[7].hardware_errors == ["overheating"] and health[0].hardware_errors == []


def test_the_driver_node_publishes_diagnostics_per_motor_and_for_the_bus():
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    with FakeDynamixelBus(time_constant=None) as fake, ros_context() as (context, executor):
        driver = LeapHandDriverNode(context=context, parameter_overrides=node_parameters(
            "leap_driver", {"port": fake.port, "diagnostics_period_s": 0.1}))
        client = rclpy.create_node("diag_client", context=context)
        got = []
        client.create_subscription(DiagnosticArray, "/diagnostics", got.append, 10)
        for node in (driver, client):
            executor.add_node(node)
        fake.set(3, "present_temperature", 75)
        fake.raise_hardware_error(9, HW_OVERLOAD)
        assert spin_until(executor, lambda: any(s.level == DiagnosticStatus.ERROR for m in got for s in m.status
                                                if "motor 9" in s.name), 5)
        status = {s.name: s for s in got[-1].status}
        assert len(status) == 17
        hot = status["leap_hand: motor 3 (if_dip)"]
        assert hot.level == DiagnosticStatus.WARN and {kv.key: kv.value for kv in hot.values}["temperature_c"] == "75"
        assert "overload" in status["leap_hand: motor 9 (rf_mcp)"].message
        bus_values = {kv.key: kv.value for kv in status["leap_hand: bus"].values}
        assert float(bus_values["read_rate_hz"]) > 0 and bus_values["port"] == fake.port
        assert status["leap_hand: bus"].level == DiagnosticStatus.ERROR       # the latched fault, said on the bus too
