"""Meta Quest 3 teleoperation for DexNDM (rotation-axis commands and arm pose targets)."""
