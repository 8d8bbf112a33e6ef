"""A graph of ``dexndm_control.graphs`` as a ROS 2 LaunchDescription (imported only by launch files: the
``launch`` packages exist on real ROS 2 installs, not in the PyPI venv)."""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from dexndm_control import graphs


def launch_description(graph: str) -> LaunchDescription:
    args = graphs.GRAPHS[graph].args

    def nodes(context):
        config = os.path.join(get_package_share_directory("dexndm_control"), "config")
        values = {name: LaunchConfiguration(name).perform(context) for name in args}
        return [ExecuteProcess(cmd=list(s.cmd), name=s.name, output="screen")
                if isinstance(s, graphs.ProcessSpec) else
                Node(package=s.package, executable=s.executable, name=s.name, output="screen",
                     parameters=[os.path.join(config, s.params_file), s.overrides])
                for s in graphs.from_strings(graph, values)]

    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=a.default, description=a.help) for name, a in args.items()]
        + [OpaqueFunction(function=nodes)])
