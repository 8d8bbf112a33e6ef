"""Reward, goal guidance and curriculum of the rotation task (method.md section 3), vectorized.

``r = a_rot r_rot + a_goal r_goal + a_penalty r_penalty`` with
``r_rot = clip(w . k, -c, c)`` and
``r_penalty = -a_rotp |w x k|_1 - a_lin |v|^2 - a_pose |q - q_init|^2 - a_work (tau . qdot)^2 - a_torque |tau|^2``.

Choices where the paper is silent (all in ``RewardConfig``):
- the work term is squared, ``(tau . qdot)^2``, as in the Hora/RotateIt code the paper follows
  (the signed ``tau . qdot`` would pay the policy for braking against its own PD loop);
- the object linear velocity term is ``|v|^2`` as the paper writes it; the RotateIt code uses
  ``|v|_1`` (``lin_norm: l1``), ~30x larger at 3 cm/s. Tried against specialist (a) dropping the
  object about +z (it slides off the open side of the palm): a +z run from scratch dropped
  0.009-0.0095 times per step at 3.3-3.6 M env steps with either norm, so it is kept as an option;
- ``a_pos`` (our addition, 0 = off as in the paper): ``-a_pos |p - p_start|``, the object's
  distance (m) from where the episode started it. Tried against specialist (a) losing the object
  about +z, where it drifts 4 cm toward the wrist and the thumb over 2-4 s before it falls (a
  slow drift that a velocity penalty barely sees). With a_pos 4 a +z run from scratch turned
  faster (0.65 vs 0.40 rad/s) but dropped twice as often (0.0185 vs 0.0094 per step at 3.6 M
  env steps): a steady cost the policy escapes by ending the episode. Kept as an option, off;
- ``drop_penalty`` (our addition, one-off on the step the object falls): with MuJoCo's torque
  magnitudes the per-step penalties can exceed the capped rotation reward early in training,
  which would make ending the episode attractive;
- ``r_goal = clip(g_goal / (ang_diff + eps), 0, c_goal) + g_bonus [ang_diff < c_threshold]`` with
  g_goal 0.02, eps 0.1 rad, c_goal 0.2, g_bonus 1.0 and c_threshold 15 deg (the goal is advanced
  another 90 deg at that same threshold, so the bonus is paid once per quarter turn);
- the rotation-penalty curriculum counts resets per environment (episodes), mean over envs.
"""
from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np

from dexndm_learning.arrays import is_torch_array, namespace


@dataclass
class RewardConfig:
    a_rot: float = 1.0
    rot_clip: float = 0.5
    a_goal: float = 1.0
    a_penalty: float = 1.0
    a_rotp_max: float = 0.1
    rotp_start_resets: float = 10.0
    rotp_full_resets: float = 100.0
    a_lin: float = 0.3
    lin_norm: str = "squared"       # "squared" (the paper's text) or "l1" (RotateIt's code)
    a_pos: float = 0.0              # object distance from its start position (m), off in the paper
    a_pose: float = 0.3
    a_work: float = 2.0
    a_torque: float = 0.1
    g_goal: float = 0.02
    goal_eps: float = 0.1
    c_goal: float = 0.2
    g_bonus: float = 1.0
    drop_penalty: float = 10.0
    goal_threshold_deg: float = 15.0
    goal_step_deg: float = 90.0

    def __post_init__(self):
        if self.lin_norm not in ("l1", "squared"):
            raise ValueError(f"reward.lin_norm must be 'l1' or 'squared', got {self.lin_norm!r}")


def rotp_weight(cfg: RewardConfig, resets_per_env: float) -> float:
    """0 for the first resets, then linear up to a_rotp_max, then constant."""
    s = (resets_per_env - cfg.rotp_start_resets) / (cfg.rotp_full_resets - cfg.rotp_start_resets)
    if is_torch_array(s):                   # a count kept on the device stays there
        return cfg.a_rotp_max * s.clamp(0.0, 1.0)
    return cfg.a_rotp_max * float(np.clip(s, 0.0, 1.0))


def quat_angle(q1, q2):
    """Angle (rad) between orientations given as (..., 4) wxyz quaternions."""
    xp = namespace(q1)
    d = xp.abs(xp.sum(q1 * q2, axis=-1))
    return 2 * xp.acos(xp.clip(d, 0.0, 1.0))


def rotate_quat_about(quat_wxyz, axis, angle):
    """World-frame rotation by ``angle`` (N,) about unit ``axis`` (N, 3) applied to orientations
    (N, 4) wxyz: the Hamilton product r * q with r = (cos(angle/2), sin(angle/2) axis). Written out
    (and checked against scipy's ``Rotation`` in the tests) because it runs on torch tensors on the
    physics device too; the result is renormalized against rounding drift over many goal steps."""
    xp = namespace(quat_wxyz)
    half = angle / 2
    rw, rv = xp.cos(half), xp.sin(half)[..., None] * axis
    qw, qv = quat_wxyz[..., 0], quat_wxyz[..., 1:]
    w = rw * qw - xp.sum(rv * qv, axis=-1)
    v = rw[..., None] * qv + qw[..., None] * rv + xp.linalg.cross(rv, qv)
    out = xp.concat([w[..., None], v], axis=-1)
    return out / xp.linalg.vector_norm(out, axis=-1, keepdims=True)


@dataclass
class RewardTerms:
    rot: np.ndarray
    goal: np.ndarray
    rotp: np.ndarray
    lin: np.ndarray
    pose: np.ndarray
    work: np.ndarray
    torque: np.ndarray
    pos: np.ndarray

    def total(self, cfg: RewardConfig, a_rotp: float) -> np.ndarray:
        penalty = -(a_rotp * self.rotp + cfg.a_lin * self.lin + cfg.a_pose * self.pose
                    + cfg.a_work * self.work + cfg.a_torque * self.torque + cfg.a_pos * self.pos)
        return cfg.a_rot * self.rot + cfg.a_goal * self.goal + cfg.a_penalty * penalty


def reward_terms(cfg: RewardConfig, omega, axis, lin_vel, q, q_init, tau, qdot, goal_diff,
                 distance=None) -> RewardTerms:
    """Unweighted terms, each (N,), numpy or torch like ``omega``. ``goal_diff`` = angle to the current goal orientation,
    ``distance`` = the object's distance from its start position (zero if not given; the env
    computes it once for this term and for drop detection)."""
    xp = namespace(omega)
    proj = xp.sum(omega * axis, axis=-1)
    goal = xp.clip(cfg.g_goal / (goal_diff + cfg.goal_eps), 0.0, cfg.c_goal)
    goal = goal + cfg.g_bonus * xp.astype(goal_diff < math.radians(cfg.goal_threshold_deg), goal.dtype)
    return RewardTerms(
        rot=xp.clip(proj, -cfg.rot_clip, cfg.rot_clip),
        goal=goal,
        rotp=xp.sum(xp.abs(xp.linalg.cross(omega, axis)), axis=-1),
        lin=xp.sum(xp.abs(lin_vel), axis=-1) if cfg.lin_norm == "l1" else xp.sum(lin_vel ** 2, axis=-1),
        pose=xp.sum((q - q_init) ** 2, axis=-1),
        work=xp.sum(tau * qdot, axis=-1) ** 2,
        torque=xp.sum(tau ** 2, axis=-1),
        pos=xp.zeros_like(proj) if distance is None else distance,
    )
