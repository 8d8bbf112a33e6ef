"""DexNDM runtime: ROS 2 nodes for the LEAP Hand, the simulated hand, the policy and the arm."""
