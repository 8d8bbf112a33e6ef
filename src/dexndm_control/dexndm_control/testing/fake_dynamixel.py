"""A bus of Dynamixel motors (Protocol 2.0) emulated behind a pseudo-terminal.

The driver under test opens :attr:`FakeDynamixelBus.port` (the pty's slave path) through the real
``dynamixel_sdk``, exactly as it would open ``/dev/ttyUSB0``; a thread on the master side parses
instruction packets and answers them from per-motor control tables. Tests inspect and set the
control tables directly and inject faults (dropped replies, corrupted CRCs, missing motors).

Only what the LEAP Hand driver needs is emulated: PING, READ, WRITE, REBOOT, SYNC_READ and
SYNC_WRITE, byte stuffing, the XC330-M288-T control-table addresses (``CONTROL_TABLE``) and the rule
that EEPROM (addresses < 64) is read-only while torque is on. A hardware error
(``raise_hardware_error``: overload, overheating, ...) behaves as on the motor: torque goes off,
Hardware Error Status holds the error's bits, every status packet of that motor carries the
hardware-alert bit (0x80) until a REBOOT instruction clears it (torque stays off).
With ``time_constant`` set, a motor with torque on moves its present position toward its goal
position (first order), so a driver sees motion.

The emulator's addresses come from the motor's manual, not from the driver, so a wrong address in
the driver shows up as a test failure rather than being mirrored here.
"""
from __future__ import annotations

import enum
import math
import os
import select
import threading
import time
import tty
from collections import Counter
from dataclasses import dataclass

# Instructions (Protocol 2.0).
PING, READ, WRITE, REBOOT, STATUS, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x08, 0x55, 0x82, 0x83
BROADCAST_ID = 0xFE
HEADER = b"\xff\xff\xfd\x00"
# Status-packet error numbers.
ERR_INSTRUCTION, ERR_CRC, ERR_DATA_LENGTH, ERR_ACCESS = 0x02, 0x03, 0x05, 0x07
HARDWARE_ALERT = 0x80
# Hardware Error Status bits (address 70).
HW_INPUT_VOLTAGE, HW_OVERHEATING, HW_ENCODER, HW_ELECTRICAL_SHOCK, HW_OVERLOAD = 0x01, 0x04, 0x08, 0x10, 0x20

TABLE_SIZE = 148
EEPROM_END = 64
"""Addresses below this are EEPROM: writable only while Torque Enable is 0."""

# XC330-M288-T control table (ROBOTIS e-manual): name -> (address, size in bytes).
CONTROL_TABLE = {
    "model_number": (0, 2),
    "firmware_version": (6, 1),
    "id": (7, 1),
    "return_delay_time": (9, 1),
    "operating_mode": (11, 1),
    "current_limit": (38, 2),
    "torque_enable": (64, 1),
    "hardware_error_status": (70, 1),
    "position_d_gain": (80, 2),
    "position_i_gain": (82, 2),
    "position_p_gain": (84, 2),
    "goal_current": (102, 2),
    "goal_position": (116, 4),
    "present_current": (126, 2),
    "present_velocity": (128, 4),
    "present_position": (132, 4),
    "present_input_voltage": (144, 2),
    "present_temperature": (146, 1),
}
_SIGNED = {"goal_current", "goal_position", "present_current", "present_velocity", "present_position"}
_INITIAL = {
    "model_number": 1240, "firmware_version": 52, "return_delay_time": 250, "operating_mode": 3,
    "current_limit": 2352, "torque_enable": 0, "position_d_gain": 500, "position_i_gain": 0,
    "position_p_gain": 1100, "goal_current": 2352, "goal_position": 2048, "present_position": 2048,
    "present_input_voltage": 50, "present_temperature": 32,
}
RPM_PER_VELOCITY_UNIT = 0.229
TICKS_PER_REV = 4096
CURRENT_UNITS_PER_TICK_ERROR = 2.0
"""Emulated present current: proportional to the position error, capped at the goal current."""


def _crc_table() -> tuple[int, ...]:
    """CRC-16 (polynomial 0x8005, MSB first, no reflection) lookup table, as in the Protocol 2.0 spec."""
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


CRC_TABLE = _crc_table()


def crc16(data: bytes, crc: int = 0) -> int:
    for b in data:
        crc = ((crc << 8) ^ CRC_TABLE[((crc >> 8) ^ b) & 0xFF]) & 0xFFFF
    return crc


def stuff(payload: bytes) -> bytes:
    """Byte stuffing: insert 0xFD after every FF FF FD inside instruction+parameters."""
    out = bytearray()
    for b in payload:
        out.append(b)
        if out[-3:] == b"\xff\xff\xfd":
            out.append(0xFD)
    return bytes(out)


def unstuff(payload: bytes) -> bytes:
    out = bytearray()
    for b in payload:
        if b == 0xFD and out[-3:] == b"\xff\xff\xfd":
            continue   # the stuffed byte
        out.append(b)
    return bytes(out)


def status_packet(motor_id: int, error: int = 0, params: bytes = b"") -> bytes:
    body = stuff(bytes([STATUS, error]) + params)
    head = HEADER + bytes([motor_id]) + (len(body) + 2).to_bytes(2, "little")
    packet = head + body
    return packet + crc16(packet).to_bytes(2, "little")


class Fault(str, enum.Enum):
    DROP = "drop"                 # the motor does not answer: the driver times out
    CORRUPT_CRC = "corrupt_crc"   # the answer arrives with a wrong CRC


@dataclass
class _FaultRule:
    kind: Fault
    remaining: int | None         # None: until clear_faults()
    motor_ids: frozenset | None   # None: any motor


class FakeDynamixelBus:
    """Motors ``motor_ids`` on a pty; use as a context manager or call start()/stop()."""

    def __init__(self, motor_ids=range(16), time_constant: float | None = 0.05):
        self.motor_ids = tuple(motor_ids)
        self.time_constant = time_constant
        self.writes: list[tuple[int, int, bytes]] = []
        """Every register write from the bus: (motor id, address, data)."""
        self.instructions: Counter = Counter()
        """Instruction packets received (valid CRC), by instruction code."""
        self._tables = {i: bytearray(TABLE_SIZE) for i in self.motor_ids}
        self._position = {i: float(_INITIAL["present_position"]) for i in self.motor_ids}
        for i, table in self._tables.items():
            for name, value in _INITIAL.items():
                self._put(table, name, value)
            self._put(table, "id", i)
        self._faults: list[_FaultRule] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._serve, name="fake-dynamixel", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeDynamixelBus:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def unplug(self) -> None:
        """The USB adapter is pulled: the bus stops answering and the port's device file goes away
        (an open port then fails with EIO)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        for fd in (self._master, self._slave):
            os.close(fd)
        self._master = self._slave = None

    def __enter__(self) -> FakeDynamixelBus:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test access to the control tables -------------------------------------------------------

    def get(self, motor_id: int, name: str) -> int:
        with self._lock:
            return self._get(self._tables[motor_id], name)

    def set(self, motor_id: int, name: str, value: int) -> None:
        with self._lock:
            self._put(self._tables[motor_id], name, value)
            if name == "present_position":
                self._position[motor_id] = float(value)

    def get_all(self, name: str) -> list[int]:
        """Register ``name`` of every motor, in motor-id order."""
        return [self.get(i, name) for i in self.motor_ids]

    def inject(self, kind: Fault | str, count: int | None = 1, motor_ids=None) -> None:
        """Apply fault ``kind`` to the next ``count`` replies (of ``motor_ids``, default any)."""
        with self._lock:
            ids = frozenset(motor_ids) if motor_ids is not None else None
            self._faults.append(_FaultRule(Fault(kind), count, ids))

    def raise_hardware_error(self, motor_id: int, bits: int) -> None:
        """The motor detects a hardware error (``HW_*`` bits): it drops torque and raises the alert."""
        with self._lock:
            table = self._tables[motor_id]
            self._put(table, "hardware_error_status", self._get(table, "hardware_error_status") | bits)
            self._put(table, "torque_enable", 0)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- the bus ---------------------------------------------------------------------------------

    def _serve(self) -> None:
        buf = bytearray()
        last = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.005)
            now = time.monotonic()
            with self._lock:
                self._step_dynamics(now - last)
            last = now
            if not ready:
                continue
            try:
                buf += os.read(self._master, 4096)
            except OSError:
                continue
            for packet in self._take_packets(buf):
                with self._lock:
                    reply = self._handle(packet)
                if reply:
                    os.write(self._master, reply)

    @staticmethod
    def _take_packets(buf: bytearray):
        """Yield complete instruction packets with a valid CRC (unstuffed) and consume them."""
        while True:
            start = buf.find(HEADER)
            if start < 0:
                del buf[:max(0, len(buf) - 3)]
                return
            del buf[:start]
            if len(buf) < 7:
                return
            total = 7 + int.from_bytes(buf[5:7], "little")
            if len(buf) < total:
                return
            packet = bytes(buf[:total])
            del buf[:total]
            if crc16(packet[:-2]) == int.from_bytes(packet[-2:], "little"):
                yield packet[:7] + unstuff(packet[7:-2])
            # A packet with a bad CRC is ignored: the sender sees a timeout.

    def _handle(self, packet: bytes) -> bytes:
        """Execute one instruction packet; return the status packet(s) to send (maybe none)."""
        target, inst, params = packet[4], packet[7], packet[8:]
        self.instructions[inst] += 1
        if inst == SYNC_READ:
            addr, size = int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little")
            return b"".join(self._reply(i, *self._read(i, addr, size)) for i in params[4:]
                            if i in self._tables)
        if inst == SYNC_WRITE:
            addr, size = int.from_bytes(params[0:2], "little"), int.from_bytes(params[2:4], "little")
            for k in range(4, len(params) - size, size + 1):
                if params[k] in self._tables:
                    self._write(params[k], addr, params[k + 1:k + 1 + size])
            return b""
        ids = self.motor_ids if target == BROADCAST_ID else (target,) if target in self._tables else ()
        replies = []
        for i in ids:
            if inst == PING:
                table = self._tables[i]
                error, data = 0, bytes(table[0:2]) + bytes(table[6:7])
            elif inst == READ:
                error, data = self._read(i, int.from_bytes(params[0:2], "little"),
                                         int.from_bytes(params[2:4], "little"))
            elif inst == WRITE:
                error, data = self._write(i, int.from_bytes(params[0:2], "little"), params[2:]), b""
            elif inst == REBOOT:
                self._put(self._tables[i], "hardware_error_status", 0)
                self._put(self._tables[i], "torque_enable", 0)
                error, data = 0, b""
            else:
                error, data = ERR_INSTRUCTION, b""
            if target != BROADCAST_ID or inst == PING:
                replies.append(self._reply(i, error, data))
        return b"".join(replies)

    def _read(self, motor_id: int, addr: int, size: int) -> tuple[int, bytes]:
        if addr + size > TABLE_SIZE:
            return ERR_DATA_LENGTH, b""
        return 0, bytes(self._tables[motor_id][addr:addr + size])

    def _write(self, motor_id: int, addr: int, data: bytes) -> int:
        table = self._tables[motor_id]
        if addr + len(data) > TABLE_SIZE:
            return ERR_DATA_LENGTH
        if addr < EEPROM_END and table[CONTROL_TABLE["torque_enable"][0]]:
            return ERR_ACCESS
        table[addr:addr + len(data)] = data
        self.writes.append((motor_id, addr, bytes(data)))
        return 0

    def _reply(self, motor_id: int, error: int, data: bytes) -> bytes:
        if self._get(self._tables[motor_id], "hardware_error_status"):
            error |= HARDWARE_ALERT
        packet = status_packet(motor_id, error, data)
        for rule in self._faults:
            if rule.motor_ids is None or motor_id in rule.motor_ids:
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._faults.remove(rule)
                if rule.kind is Fault.DROP:
                    return b""
                return packet[:-2] + bytes([packet[-2] ^ 0xFF, packet[-1]])
        return packet

    def _step_dynamics(self, dt: float) -> None:
        if self.time_constant is None or dt <= 0:
            return
        alpha = 1.0 - math.exp(-dt / self.time_constant)
        for i, table in self._tables.items():
            if not self._get(table, "torque_enable"):
                continue
            goal = self._get(table, "goal_position")
            old = self._position[i]
            new = old + (goal - old) * alpha
            self._position[i] = new
            rpm = (new - old) / dt * 60.0 / TICKS_PER_REV
            limit = self._get(table, "goal_current")
            current = max(-limit, min(limit, round((goal - new) * CURRENT_UNITS_PER_TICK_ERROR)))
            self._put(table, "present_position", round(new))
            self._put(table, "present_velocity", round(rpm / RPM_PER_VELOCITY_UNIT))
            self._put(table, "present_current", current)

    @staticmethod
    def _get(table: bytearray, name: str) -> int:
        addr, size = CONTROL_TABLE[name]
        return int.from_bytes(table[addr:addr + size], "little", signed=name in _SIGNED)

    @staticmethod
    def _put(table: bytearray, name: str, value: int) -> None:
        addr, size = CONTROL_TABLE[name]
        table[addr:addr + size] = (int(value) & ((1 << 8 * size) - 1)).to_bytes(size, "little")
