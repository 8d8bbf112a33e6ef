"""Target sequences for open-loop replay (Chaos Box collection, in simulation and on the robot).

The base policy's actions become targets by the environment's rule
(``a_t = clip(a_{t-1} + action_t / 24)``). As in the paper, with probability ``prob`` a trajectory
gets Gaussian noise (sigma 0.01 by default) added to every replayed action, where an "action" is
the joint position target a_t in radians (the quantity the dynamics model sees), independently
per step; noisy targets are clamped to the joint limits. One function serves the simulated
study and the ROS replay node, so both replay exactly the same thing.
"""
from __future__ import annotations

import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.policy.contract import ACTION_SCALE, base_target


def action_targets(actions: np.ndarray, start: np.ndarray, scale: float = ACTION_SCALE) -> np.ndarray:
    """Targets (K, T, 16) the env's action rule makes of actions (K, T, 16) from start (K, 16)."""
    targets = np.empty_like(actions, dtype=float)
    current = joint_order.clip_to_limits(np.broadcast_to(start, (len(actions), joint_order.NUM_JOINTS)))
    for t in range(actions.shape[1]):
        current = base_target(current, actions[:, t], scale)
        targets[:, t] = current
    return targets


def replay_targets(actions: np.ndarray, start: np.ndarray, sigma: float, prob: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(K, T, 16) replay targets and (K,) which trajectories got noise."""
    return noisy_targets(action_targets(actions, start), sigma, prob, rng)


def noisy_targets(targets: np.ndarray, sigma: float, prob: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Targets (K, T, 16) with the replay noise rule applied (a copy), and (K,) which got noise."""
    targets = np.array(targets, dtype=float)
    noisy = rng.random(len(targets)) < prob
    targets[noisy] += rng.normal(0.0, sigma, targets[noisy].shape)
    return joint_order.clip_to_limits(targets), noisy
