"""LEAP Hand hardware driver: the Dynamixel bus (``bus``, no ROS) and its ROS 2 node (``node``)."""
from dexndm_control.leap_driver.bus import HandState, LeapBusError, LeapHandBus

__all__ = ["HandState", "LeapBusError", "LeapHandBus"]
