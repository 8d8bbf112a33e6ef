"""Evaluation metrics of in-hand rotation (method.md section 6), from per-step trajectories.

All functions take per-control-step arrays of one or more episodes (leading axis = episode).
``omega`` is the object angular velocity (rad/s, same frame as ``axis``), ``alive`` marks steps
before the object fell.
"""
from __future__ import annotations

import numpy as np

from dexndm_learning.policy.contract import CONTROL_DT  # noqa: F401  (re-exported)
EPISODE_STEPS = 400


def rot_reward(omega, axis, alive) -> np.ndarray:
    """RotR: episode sum of w . k over the steps the object was held."""
    proj = np.einsum("...ti,...i->...t", omega, axis)
    return (proj * alive).sum(-1)


def rot_penalty(omega, axis, alive) -> np.ndarray:
    """RotP: per-step mean of |w x k| while held."""
    cross = np.linalg.norm(np.cross(omega, axis[..., None, :]), axis=-1)
    n = np.maximum(alive.sum(-1), 1)
    return (cross * alive).sum(-1) / n


def time_to_fall(alive, episode_steps: int = EPISODE_STEPS) -> np.ndarray:
    """TTF: held steps / episode length (1.0 = held for the full 20 s)."""
    return alive.sum(-1) / episode_steps


def rotation_radians(omega, axis, alive, dt: float = CONTROL_DT) -> np.ndarray:
    """Rot: total radians turned about the axis (the real-world metric)."""
    return rot_reward(omega, axis, alive) * dt


def goal_success(final_angle_error) -> np.ndarray:
    """GO Succ: the object ends within 0.1 pi of the goal orientation."""
    return np.asarray(final_angle_error) < 0.1 * np.pi


def mean_std(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std())
