from setuptools import find_packages, setup

package_name = "dexndm_learning"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    # learning's configs (hand, NDM, residual, reality profiles, specialists) ship with the package
    package_data={package_name: ["config/*.yaml", "config/*/*.yaml", "config/*/*/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
    install_requires=["numpy", "scipy", "array-api-compat", "pyyaml", "mujoco", "torch", "rosbags", "mcap", "tqdm", "matplotlib"],
    zip_safe=False,
    maintainer="DexNDM-ROS developers",
    description="Offline DexNDM tools (no ROS needed).",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={"console_scripts": ["dexndm-learn = dexndm_learning.cli:main"]},
)
