"""Behaviour cloning of the specialists into one proprioceptive generalist."""
