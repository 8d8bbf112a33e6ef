from setuptools import find_packages, setup

package_name = "dexndm_teleop"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
    install_requires=["dexndm_learning"],
    zip_safe=False,
    maintainer="DexNDM-ROS developers",
    description="Meta Quest 3 teleoperation for DexNDM: input sources and mapping (ROS-free).",
    license="Apache-2.0",
    python_requires=">=3.10",
)
