"""LEAP Hand hardware driver: the Dynamixel bus (``bus``, no ROS); its ROS 2 node is ``nodes.leap_driver_node``."""
from dexndm_control.drivers.leap.bus import HandState, LeapBusError, LeapHandBus, MotorFault

__all__ = ["HandState", "LeapBusError", "LeapHandBus", "MotorFault"]
