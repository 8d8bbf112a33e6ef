"""``diagnostic_msgs/DiagnosticArray`` for ``/diagnostics``, as ROS tools (rqt_runtime_monitor,
Foxglove, diagnostic_aggregator) expect: one status per motor and one for the bus, each with its
readings as key/value pairs. The real driver and the simulated hand publish the same names."""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from dexndm_learning import joint_order

HOT_C = 70
"""Warn at this motor temperature (the XC330's shutdown limit is 80 deg C by default)."""


def _status(name: str, hardware_id: str, level: bytes, message: str, values: dict) -> DiagnosticStatus:
    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])


def motor_name(motor_id: int) -> str:
    return f"leap_hand: motor {motor_id} ({joint_order.names(joint_order.Order.MOTOR)[motor_id]})"


def hand_diagnostics(stamp, per_joint: dict, health: dict | None, bus: dict, bus_error: str = "") -> DiagnosticArray:
    """Per motor (id order): the ``per_joint`` readings (name -> 16 values in MJ order, e.g. the
    present current), and where ``health`` (motor id -> ``MotorHealth``) is given temperature,
    input voltage and hardware errors; then the bus with ``bus``'s readings (an error message
    makes it ERROR)."""
    statuses = []
    by_motor = {k: joint_order.convert(v, joint_order.Order.MJ, joint_order.Order.MOTOR) for k, v in per_joint.items()}
    for i in range(joint_order.NUM_JOINTS):
        values = {k: round(float(v[i]), 3) for k, v in by_motor.items()}
        level, message = DiagnosticStatus.OK, "ok"
        h = None if health is None else health.get(i)
        if h is not None:
            values |= {"temperature_c": h.temperature_c, "input_voltage_v": h.input_voltage_v,
                       "hardware_errors": ", ".join(h.hardware_errors) or "none"}
            if h.hardware_errors:
                level, message = DiagnosticStatus.ERROR, "hardware error: " + ", ".join(h.hardware_errors)
            elif h.temperature_c >= HOT_C:
                level, message = DiagnosticStatus.WARN, f"hot ({h.temperature_c} C)"
        statuses.append(_status(motor_name(i), f"dynamixel id {i}", level, message, values))
    statuses.append(_status("leap_hand: bus", str(bus.get("port", "")),
                            DiagnosticStatus.ERROR if bus_error else DiagnosticStatus.OK, bus_error or "ok", bus))
    msg = DiagnosticArray(status=statuses)
    msg.header.stamp = stamp
    return msg
