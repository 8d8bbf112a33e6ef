"""MuJoCo simulation of the LEAP Hand (no ROS)."""
