"""Reinforcement learning of the rotation specialists (PPO from rsl_rl)."""
