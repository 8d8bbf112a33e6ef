"""DexNDM offline tools: simulation, RL, behaviour cloning, neural dynamics, residual training.

This package never imports rclpy: it runs on a GPU server with no ROS installed.
"""
__version__ = "0.1.0"
