"""Simulated LEAP Hand on the driver's topics.

    ros2 launch dexndm_control sim_hand.launch.py wrist:=palm_down [viz:=true viz_port:=8765]

Without ros2 launch (e.g. a venv with the PyPI wheels):  dexndm sim-hand --wrist palm_down
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from dexndm_control.graphs.launch_description import robot_description_node


def generate_launch_description():
    config = os.path.join(get_package_share_directory("dexndm_control"), "config")
    return LaunchDescription([
        DeclareLaunchArgument("wrist", default_value="palm_up"),
        DeclareLaunchArgument("real_time_factor", default_value="1.0"),
        DeclareLaunchArgument("viz", default_value="false", description="Foxglove live view (config/live_view.yaml)"),
        DeclareLaunchArgument("viz_port", default_value="8765"),
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
        Node(
            package="dexndm_control",
            executable="live_view",
            name="live_view",
            output="screen",
            condition=IfCondition(LaunchConfiguration("viz")),
            parameters=[os.path.join(config, "live_view.yaml"),
                        {"wrist": LaunchConfiguration("wrist"), "port": LaunchConfiguration("viz_port")}],
        ),
    ])
