"""Multi-phase studies that a rerun continues: the NDM generalization study (the sim-to-sim
pipeline, whose Chaos Box phase runs over ROS 2, lives in dexndm_control on the same base)."""
