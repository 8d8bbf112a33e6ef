"""Test doubles for hardware (no ROS): stand-ins that speak the real wire protocols."""
