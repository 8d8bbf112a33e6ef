from glob import glob

from setuptools import find_packages, setup

package_name = "dexndm_control"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        # launch/ lives at the repository top (this is a symlink to it); ros2 launch reads the
        # nodes' parameter files from share/, the package reads its own copy (package data).
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        (f"share/{package_name}/config", glob(f"{package_name}/config/*.yaml")),
    ],
    package_data={package_name: ["config/*.yaml"]},
    install_requires=["dexndm_learning", "dexndm_teleop"],
    zip_safe=False,
    maintainer="DexNDM-ROS developers",
    description="DexNDM runtime ROS 2 nodes.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "dexndm = dexndm_control.cli:main",
            "sim_hand = dexndm_control.nodes.sim_hand_node:main",
            "leap_driver = dexndm_control.nodes.leap_driver_node:main",
            "franka_bridge = dexndm_control.nodes.franka_bridge_node:main",
            "rotation_policy = dexndm_control.nodes.policy_node:main",
            "rotation_commander = dexndm_control.nodes.rotation_commander:main",
            "chaos_replay = dexndm_control.nodes.chaos_replay_node:main",
            "bag_recorder = dexndm_control.nodes.bag_recorder:main",
            "quest_teleop = dexndm_control.nodes.teleop_node:main",
            "live_view = dexndm_control.nodes.live_view_node:main",
        ]
    },
)
