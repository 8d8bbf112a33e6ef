"""The LEAP Hand's 16 Dynamixel motors over ``dynamixel_sdk`` (Protocol 2.0), without ROS.

Everything above this class speaks sim angles in our MJ joint order; the motor-id order and the
motor angle offset (pi = flat hand) exist only here, and only through ``joint_order``.

Configuration follows LEAP_Hand_API: current-based position control (mode 5), position PID gains
with 0.75 x P and D on motors 0, 4, 8 (the index/middle/ring abduction joints), and Goal Current
(address 102) as the current limit, which in mode 5 caps the current the position loop may use.

Motor alarms: a motor that detects a hardware error (overload, overheating, input voltage,
electrical shock, encoder) drops its torque and sets the hardware-alert bit (0x80) in every status
packet. ``dynamixel_sdk``'s GroupSyncRead discards the status error byte, so the sync read here
keeps it (``_SyncReadKeepingErrors``); after a read with the bit set the bus reads each alerting
motor's Hardware Error Status, latches a ``MotorFault`` naming the motors, joints and errors, and
refuses goal writes until the operator calls ``reboot_faulted`` (never automatic).
"""
from __future__ import annotations

import math
import termios
import threading
import time
from dataclasses import dataclass

import numpy as np
from dynamixel_sdk import (COMM_RX_CORRUPT, COMM_RX_FAIL, COMM_RX_TIMEOUT, COMM_SUCCESS, GroupSyncRead, GroupSyncWrite,
                           PacketHandler, PortHandler)

from dexndm_learning import joint_order
from dexndm_learning.joint_order import Order

MOTOR_IDS = tuple(range(joint_order.NUM_JOINTS))
DEFAULT_PORT = "/dev/ttyUSB0"
DEFAULT_BAUDRATE = 4_000_000

# Control table (XC330-M288-T), address and size in bytes.
ADDR_OPERATING_MODE = 11
ADDR_TORQUE_ENABLE = 64
ADDR_HARDWARE_ERROR_STATUS = 70
ADDR_POSITION_D_GAIN = 80
ADDR_POSITION_I_GAIN = 82
ADDR_POSITION_P_GAIN = 84
ADDR_GOAL_CURRENT = 102
ADDR_GOAL_POSITION = 116
ADDR_PRESENT_CURRENT = 126     # 2 B, then present velocity (128, 4 B), present position (132, 4 B)
ADDR_PRESENT_VELOCITY = 128
ADDR_PRESENT_POSITION = 132
ADDR_PRESENT_INPUT_VOLTAGE = 144   # 2 B, 0.1 V; then present temperature (146, 1 B, deg C)
ADDR_PRESENT_TEMPERATURE = 146
STATE_READ_LENGTH = 10
CURRENT_BASED_POSITION_MODE = 5

RAD_PER_TICK = 2 * math.pi / 4096
RAD_S_PER_VELOCITY_UNIT = 0.229 * 2 * math.pi / 60      # 0.229 rpm per unit
CURRENT_MA_PER_UNIT = 1.34
"""Present-current scale as coded in LEAP_Hand_API (the XC330 manual gives 1.0 mA)."""
GOAL_CURRENT_MA_PER_UNIT = 1.0
"""Goal Current (102) scale on the XC330; LEAP_Hand_API writes its mA limit unscaled too."""
REDUCED_GAIN_MOTORS = (0, 4, 8)
REDUCED_GAIN_FACTOR = 0.75
RX_PACKET_ERROR_MASK = 0x7F
"""Status error bits that mean the instruction failed (bit 7 is the hardware-alert flag only)."""
HARDWARE_ALERT = 0x80
REBOOT_WAIT_S = 0.5
"""After a REBOOT instruction, before the motor is addressed again (it restarts its firmware)."""
HARDWARE_ERRORS = {0x01: "input voltage", 0x04: "overheating", 0x08: "motor encoder", 0x10: "electrical shock",
                   0x20: "overload"}
"""Hardware Error Status (address 70) bits, as the ROBOTIS e-manual names them."""


class LeapBusError(RuntimeError):
    """The motor bus failed: port missing, motors not answering, or repeated communication errors."""


class MotorFault(LeapBusError):
    """Motors reported hardware errors; ``errors`` maps motor id -> error names."""

    def __init__(self, errors: dict[int, list[str]]):
        self.errors = errors
        names = joint_order.names(Order.MOTOR)
        parts = [f"motor {i} ({names[i]}): {', '.join(e) or 'hardware alert'}" for i, e in sorted(errors.items())]
        super().__init__(f"motor hardware error, torque off on those motors and goal writes stopped: {'; '.join(parts)}. "
                         "Fix the cause (load, temperature, supply), then reboot the motors (reboot_faulted)")


class _SyncReadKeepingErrors(GroupSyncRead):
    """GroupSyncRead that keeps each motor's status error byte in ``errors`` (the SDK's rxPacket
    drops it, and with it the hardware-alert bit)."""

    def rxPacket(self):
        self.last_result = False
        self.errors = {}
        result = COMM_RX_FAIL
        for dxl_id in self.data_dict:
            self.data_dict[dxl_id], result, self.errors[dxl_id] = self.ph.readRx(self.port, dxl_id, self.data_length)
            if result != COMM_SUCCESS:
                return result
        self.last_result = result == COMM_SUCCESS
        return result


@dataclass(frozen=True)
class MotorHealth:
    """One motor's slow readings (``LeapHandBus.read_health``)."""
    temperature_c: int
    input_voltage_v: float
    hardware_errors: list[str]


@dataclass
class BusStats:
    """Counts since the bus opened: state reads that succeeded, attempts that had to be retried
    (of any transaction), and the failed attempts' kinds."""
    reads: int = 0
    retries: int = 0
    timeouts: int = 0
    corrupt: int = 0


@dataclass(frozen=True)
class HandState:
    """One reading of all 16 joints, in MJ order."""
    position: np.ndarray      # sim angles, rad
    velocity: np.ndarray      # rad/s
    current_ma: np.ndarray    # motor current, mA (signed)


def _signed(value: int, size: int) -> int:
    bits = 8 * size
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _le_bytes(value: int, size: int) -> list[int]:
    return list((value & ((1 << 8 * size) - 1)).to_bytes(size, "little"))


class LeapHandBus:
    """Open with :meth:`open` (or ``with LeapHandBus(...) as bus``); :meth:`close` drops torque."""

    def __init__(self, port: str = DEFAULT_PORT, baudrate: int = DEFAULT_BAUDRATE, *,
                 kp: int = 800, ki: int = 0, kd: int = 200, current_limit_ma: float = 350.0,
                 retries: int = 3):
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.port_name = port
        self.baudrate = int(baudrate)
        self.gains = (int(kp), int(ki), int(kd))
        self.current_limit_ma = float(current_limit_ma)
        self.retries = int(retries)
        self.targets: np.ndarray | None = None
        """Last goal positions sent (sim angles, MJ order)."""
        self.fault: MotorFault | None = None
        """The latched motor fault (None: no motor alarm since open or the last reboot)."""
        self._port = PortHandler(port)
        self._packet = PacketHandler(2.0)
        self._reader = _SyncReadKeepingErrors(self._port, self._packet, ADDR_PRESENT_CURRENT, STATE_READ_LENGTH)
        self._writer = GroupSyncWrite(self._port, self._packet, ADDR_GOAL_POSITION, 4)
        self._health = _SyncReadKeepingErrors(self._port, self._packet, ADDR_PRESENT_INPUT_VOLTAGE, 3)
        self._alarms = _SyncReadKeepingErrors(self._port, self._packet, ADDR_HARDWARE_ERROR_STATUS, 1)
        self.stats = BusStats()
        for i in MOTOR_IDS:
            self._reader.addParam(i)
            self._health.addParam(i)
            self._alarms.addParam(i)
            self._writer.addParam(i, _le_bytes(0, 4))   # placeholder: every write sets all 16
        self._lock = threading.Lock()   # one transaction on the bus at a time

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> LeapHandBus:
        """Open the port, check all 16 motors answer, configure them and enable torque.

        Before torque goes on, each motor's goal is set to where it is now (clipped to the joint
        limits), so enabling torque does not make the hand jump to a stale goal.
        """
        try:
            ok = self._port.setBaudRate(self.baudrate)
        except (OSError, ValueError) as exc:   # pyserial's SerialException is an OSError
            raise LeapBusError(f"cannot open LEAP Hand port {self.port_name}: {exc}") from exc
        if not ok:
            raise LeapBusError(f"cannot open LEAP Hand port {self.port_name} at {self.baudrate} baud "
                               "(unsupported baud rate)")
        try:
            self._check_motors()
            self._configure()
            self.write_targets(joint_order.clip_to_limits(self.read_state().position))
            self._write_all(ADDR_TORQUE_ENABLE, 1, 1, "torque enable")
        except BaseException:
            try:
                self.close()   # some motors may already hold torque
            except LeapBusError:
                pass           # the original error says more
            raise
        return self

    def close(self) -> None:
        """Disable torque on all motors (best effort, every motor tried), then close the port."""
        if not self._port.is_open:
            return
        failed = []
        try:
            for i in MOTOR_IDS:
                try:
                    self._write(i, ADDR_TORQUE_ENABLE, 1, 0, "torque disable")
                except LeapBusError:
                    failed.append(i)
        finally:
            self._port.closePort()
        if failed:
            raise LeapBusError(f"torque disable failed on {self.port_name} for motor ids {failed}")

    def __enter__(self) -> LeapHandBus:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- state and commands ----------------------------------------------------------------------

    def read_state(self) -> HandState:
        """One sync read of present current, velocity and position of all motors."""
        self._require_open()
        with self._lock:
            self._retry("sync read of present current/velocity/position", MOTOR_IDS, self._sync_read,
                        self._first_unread)
            raw = [(self._reader.getData(i, ADDR_PRESENT_CURRENT, 2),
                    self._reader.getData(i, ADDR_PRESENT_VELOCITY, 4),
                    self._reader.getData(i, ADDR_PRESENT_POSITION, 4)) for i in MOTOR_IDS]
            alerting = [i for i in MOTOR_IDS if self._reader.errors.get(i, 0) & HARDWARE_ALERT]
            if alerting and (self.fault is None or set(alerting) - set(self.fault.errors)):
                self.fault = MotorFault({i: self._hardware_errors(i) for i in alerting})
        self.stats.reads += 1
        current = np.array([_signed(c, 2) for c, _, _ in raw], dtype=float) * CURRENT_MA_PER_UNIT
        velocity = np.array([_signed(v, 4) for _, v, _ in raw], dtype=float) * RAD_S_PER_VELOCITY_UNIT
        position = np.array([_signed(p, 4) for _, _, p in raw], dtype=float) * RAD_PER_TICK
        return HandState(position=joint_order.motor_to_sim_angles(position),
                         velocity=joint_order.convert(velocity, Order.MOTOR, Order.MJ),
                         current_ma=joint_order.convert(current, Order.MOTOR, Order.MJ))

    def write_targets(self, q_sim_mj) -> None:
        """Sync-write goal positions (sim angles, MJ order) after ``joint_order.validate_targets``.

        Raises ``joint_order.JointCommandError`` (nothing is written) for NaN/inf, a wrong shape or
        targets outside the joint limits.
        """
        q = joint_order.validate_targets(q_sim_mj)
        self._require_open()
        if self.fault is not None:
            raise self.fault
        ticks = np.round(joint_order.sim_to_motor_angles(q) / RAD_PER_TICK).astype(int)
        with self._lock:
            for i, t in zip(MOTOR_IDS, ticks):
                self._writer.changeParam(i, _le_bytes(int(t), 4))
            self._retry("sync write of goal positions", MOTOR_IDS, lambda: (self._writer.txPacket(), 0))
        self.targets = q

    def read_health(self) -> dict[int, MotorHealth]:
        """Temperature, input voltage and hardware errors of every motor (two sync reads; for
        diagnostics at about 1 Hz, not for the control loop)."""
        self._require_open()
        with self._lock:
            self._retry("sync read of input voltage/temperature", MOTOR_IDS,
                        lambda: (self._health.txRxPacket(), 0))
            self._retry("sync read of hardware error status", MOTOR_IDS, lambda: (self._alarms.txRxPacket(), 0))
            raw = {i: (self._health.getData(i, ADDR_PRESENT_INPUT_VOLTAGE, 2),
                       self._health.getData(i, ADDR_PRESENT_TEMPERATURE, 1),
                       self._alarms.getData(i, ADDR_HARDWARE_ERROR_STATUS, 1)) for i in MOTOR_IDS}
        return {i: MotorHealth(int(t), v / 10.0, [n for bit, n in HARDWARE_ERRORS.items() if e & bit])
                for i, (v, t, e) in raw.items()}

    def reboot_faulted(self) -> list[int]:
        """The operator's recovery after a motor fault: reboot the faulted motors (clears their
        error; a motor forgets its RAM settings), configure them again, hold them where they are
        now and re-enable torque; then accept goals again. Returns the rebooted motor ids."""
        self._require_open()
        fault = self.fault
        if fault is None:
            return []
        ids = sorted(fault.errors)
        try:
            with self._lock:
                for i in ids:
                    self._retry("reboot", (i,), lambda i=i: self._packet.reboot(self._port, i))
            time.sleep(REBOOT_WAIT_S)       # a rebooting motor does not answer at once
            for i in ids:
                remaining = self._hardware_errors(i)
                if remaining:
                    raise MotorFault({i: remaining})
            self._configure(ids)
            self.fault = None               # for the hold below; restored if anything fails
            hold = joint_order.clip_to_limits(self.read_state().position)
            if self.fault is not None:      # alarmed again right away
                raise self.fault
            self.write_targets(hold)
            for i in ids:
                self._write(i, ADDR_TORQUE_ENABLE, 1, 1, "torque enable")
        except BaseException:
            self.fault = self.fault or fault   # the motors are not back: goals stay refused
            raise
        return ids

    # -- internals -------------------------------------------------------------------------------

    def _hardware_errors(self, motor_id: int) -> list[str]:
        """Names of the bits set in a motor's Hardware Error Status."""
        status = [0]

        def attempt():
            status[0], result, error = self._packet.read1ByteTxRx(self._port, motor_id, ADDR_HARDWARE_ERROR_STATUS)
            return result, error

        self._retry("read of hardware error status", (motor_id,), attempt)
        return [name for bit, name in HARDWARE_ERRORS.items() if status[0] & bit]

    def _require_open(self) -> None:
        if not self._port.is_open:
            raise LeapBusError(f"LEAP Hand port {self.port_name} is not open")

    def _check_motors(self) -> None:
        missing = []
        for i in MOTOR_IDS:
            try:
                with self._lock:
                    self._retry("ping", (i,), lambda i=i: self._packet.ping(self._port, i)[1:])
            except LeapBusError:
                missing.append(i)
        if missing:
            raise LeapBusError(f"motor ids {missing} did not answer a ping on {self.port_name} at "
                               f"{self.baudrate} baud (expected ids {MOTOR_IDS[0]}-{MOTOR_IDS[-1]})")

    def _configure(self, ids=MOTOR_IDS) -> None:
        kp, ki, kd = self.gains
        self._write_all(ADDR_TORQUE_ENABLE, 1, 0, "torque disable", ids)
        self._write_all(ADDR_OPERATING_MODE, 1, CURRENT_BASED_POSITION_MODE, "operating mode", ids)
        for i in ids:
            scale = REDUCED_GAIN_FACTOR if i in REDUCED_GAIN_MOTORS else 1.0
            self._write(i, ADDR_POSITION_P_GAIN, 2, round(kp * scale), "position P gain")
            self._write(i, ADDR_POSITION_I_GAIN, 2, ki, "position I gain")
            self._write(i, ADDR_POSITION_D_GAIN, 2, round(kd * scale), "position D gain")
        self._write_all(ADDR_GOAL_CURRENT, 2, round(self.current_limit_ma / GOAL_CURRENT_MA_PER_UNIT),
                        "current limit (goal current)", ids)

    def _write_all(self, address: int, size: int, value: int, what: str, ids=MOTOR_IDS) -> None:
        for i in ids:
            self._write(i, address, size, value, what)

    def _write(self, motor_id: int, address: int, size: int, value: int, what: str) -> None:
        """Write one register of one motor and wait for its status (so errors are seen)."""
        def attempt():
            return self._packet.writeTxRx(self._port, motor_id, address, size, _le_bytes(value, size))

        with self._lock:
            self._retry(f"write of {what} (address {address}) = {value}", (motor_id,), attempt)

    def _sync_read(self) -> tuple[int, int]:
        for i in MOTOR_IDS:
            self._reader.data_dict[i] = []   # so a failed read leaves no stale data behind
        return self._reader.txRxPacket(), 0

    def _first_unread(self) -> str:
        unread = [i for i in MOTOR_IDS if len(self._reader.data_dict[i]) != STATE_READ_LENGTH]
        return f" (no valid reply from motor id {unread[0]})" if unread else ""

    def _retry(self, operation: str, ids, attempt, detail=lambda: "") -> None:
        """Run ``attempt() -> (comm_result, status_error)`` up to 1 + retries times, else raise. An
        error of the port itself (the adapter unplugged: EIO from the tty) is not retried."""
        for _ in range(self.retries + 1):
            try:
                result, error = attempt()
            except (OSError, termios.error) as exc:     # pyserial's SerialException is an OSError
                self._port.is_using = False              # the SDK leaves its transaction flag set
                raise LeapBusError(f"{operation} on {self.port_name}: the port failed ({exc}); is the hand "
                                   "unplugged?") from exc
            if result == COMM_SUCCESS and not error & RX_PACKET_ERROR_MASK:
                return
            self.stats.retries += 1
            self.stats.timeouts += result == COMM_RX_TIMEOUT
            self.stats.corrupt += result == COMM_RX_CORRUPT
        reason = (self._packet.getTxRxResult(result) if result != COMM_SUCCESS
                  else self._packet.getRxPacketError(error))
        raise LeapBusError(f"{operation} failed for motor ids {list(ids)} on {self.port_name} after "
                           f"{self.retries + 1} attempts: {reason}{detail()}")
