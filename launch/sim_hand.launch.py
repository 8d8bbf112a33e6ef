"""Simulated LEAP Hand on the driver's topics.

    ros2 launch dexndm_control sim_hand.launch.py wrist:=palm_down

Without ros2 launch (e.g. a venv with the PyPI wheels):  dexndm sim-hand --wrist palm_down
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from dexndm_control.graphs.launch_description import robot_description_node


def generate_launch_description():
    config = os.path.join(get_package_share_directory("dexndm_control"), "config")
    return LaunchDescription([
        DeclareLaunchArgument("wrist", default_value="palm_up"),
        DeclareLaunchArgument("real_time_factor", default_value="1.0"),
        Node(
            package="dexndm_control",
            executable="sim_hand",
            name="sim_hand",
            output="screen",
            parameters=[
                os.path.join(config, "sim_hand.yaml"),
                {"wrist": LaunchConfiguration("wrist"),
                 "real_time_factor": LaunchConfiguration("real_time_factor")},
            ],
        ),
        robot_description_node(),
    ])
