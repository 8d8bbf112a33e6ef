"""Teleoperated rotation: LEAP Hand, Franka bridge (wrist), Quest 3 (axis), policy (graph
"teleop" of dexndm_control/graphs.py).

    ros2 launch dexndm_control teleop.launch.py residual:=/path/residual.pt

Without ros2 launch (same nodes and parameters, one process):  dexndm teleop --residual /path/residual.pt
"""
from dexndm_control.graphs.launch_description import launch_description


def generate_launch_description():
    return launch_description("teleop")
