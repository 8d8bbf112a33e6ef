"""A graph of ``dexndm_control.graphs`` as a ROS 2 LaunchDescription (imported only by launch files: the
``launch`` packages exist on real ROS 2 installs, not in the PyPI venv).

Every launch also starts ``robot_state_publisher`` with the hand's URDF, generated at launch from
the MuJoCo hand (``dexndm_learning.sim.urdf``, the hand version of ``config/hand.yaml``) and driven
by ``/leap_hand/joint_states``: TF from ``mount`` (hand frame H) to every link, for RViz and Foxglove.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from dexndm_control import graphs
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.urdf import hand_urdf


def robot_description_node() -> Node:
    """robot_state_publisher with the hand's URDF on the hand's joint states."""
    return Node(package="robot_state_publisher", executable="robot_state_publisher", name="leap_hand_description",
                output="screen", parameters=[{"robot_description": hand_urdf(HandConfig.load("hand"))}],
                remappings=[("joint_states", "/leap_hand/joint_states")])


def launch_description(graph: str) -> LaunchDescription:
    args = graphs.GRAPHS[graph].args

    def nodes(context):
        config = os.path.join(get_package_share_directory("dexndm_control"), "config")
        values = {name: LaunchConfiguration(name).perform(context) for name in args}
        return [ExecuteProcess(cmd=list(s.cmd), name=s.name, output="screen")
                if isinstance(s, graphs.ProcessSpec) else
                Node(package=s.package, executable=s.executable, name=s.name, output="screen",
                     parameters=[os.path.join(config, s.params_file), s.overrides])
                for s in graphs.from_strings(graph, values)] + [robot_description_node()]

    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=a.default, description=a.help) for name, a in args.items()]
        + [OpaqueFunction(function=nodes)])
