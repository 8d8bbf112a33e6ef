"""In-hand rotation with a fixed wrist and a fixed axis (graph "rotate" of dexndm_control/graphs.py).

    ros2 launch dexndm_control rotate.launch.py wrist:=palm_down sim:=true residual:=/path/residual.pt axis:='0 0 1'

Without ros2 launch (same nodes and parameters, one process):
    dexndm rotate --wrist palm_down --sim --residual /path/residual.pt --axis 0 0 1
"""
from dexndm_control.graphs.launch_description import launch_description


def generate_launch_description():
    return launch_description("rotate")
