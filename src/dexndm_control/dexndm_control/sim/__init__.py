"""The simulated hand behind the sim_hand node: scenes, a held object, a reality profile."""
