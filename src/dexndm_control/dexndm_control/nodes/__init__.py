"""ROS 2 nodes: one module per node, each startable with ros2 run or composed in one process."""
