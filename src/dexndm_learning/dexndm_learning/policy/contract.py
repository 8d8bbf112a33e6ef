"""The deployable policy's contract: the one definition of its rate, observation and action rule.

Training (the rotation environment, behaviour cloning, residual training), the datasets, the
sim-to-sim evaluation and the policy node all take these from here; a policy file records the
history and action scale it was trained with (``policy.artifact``).

- Control period ``CONTROL_DT`` (20 Hz, method.md section 1).
- Observation (the generalist's ``proprio``): ``HISTORY`` steps of (q_k, a_{k-1}) interleaved,
  oldest first (q_k is the measured position, a_{k-1} the target in force while it was reached),
  then the wrist quaternion (w, x, y, z) world <- hand, then the commanded axis in the world
  frame: ``obs_dim()`` values. A residual policy takes the same followed by this step's base
  target (16).
- Action: ``a_t = clip_to_limits(a_{t-1} + ACTION_SCALE * clip(action, -1, 1))`` (``base_target``).
- Residual: its network's output is ``RESIDUAL_CAP * tanh(.)`` (the artifact records the bound and
  is refused by the policy node and the sim-to-sim actor unless it is this one); the hand receives
  ``clip_to_limits(a_t + clip(a_res_t, -RESIDUAL_CAP, RESIDUAL_CAP))`` (``commanded_target``),
  while the base recursion and the observed target history keep ``a_t`` (method.md section 9).
  The same cap holds in residual training, the sim-to-sim evaluation and the policy node; the
  hardware residuals in the paper were 0.004-0.012 rad, so 0.05 leaves room without letting a
  wrong model move a joint far.
"""
from __future__ import annotations

import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.arrays import namespace

CONTROL_DT = 0.05
HISTORY = 10
ACTION_SCALE = 1.0 / 24.0
RESIDUAL_CAP = 0.05                 # rad per joint
WRIST_DIM = 4
AXIS_DIM = 3


def obs_dim(history: int = HISTORY) -> int:
    """Length of the base policy's observation for ``history`` steps."""
    return history * 2 * joint_order.NUM_JOINTS + WRIST_DIM + AXIS_DIM


def proprio_from_history(q_hist: np.ndarray, a_hist: np.ndarray, wrist: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Observations (N, obs_dim) from q_hist, a_hist (N, H, 16) oldest first, wrist (N, 4), axis (N, 3)."""
    xp = namespace(q_hist)
    n, h = q_hist.shape[:2]
    hist = xp.reshape(xp.stack([q_hist, a_hist], axis=2), (n, h * 2 * joint_order.NUM_JOINTS))
    return xp.astype(xp.concat([hist, wrist, axis], axis=1), xp.float32)


def proprio_at_steps(q: np.ndarray, targets: np.ndarray, wrist: np.ndarray, axis: np.ndarray, t: np.ndarray,
                     history: int = HISTORY) -> np.ndarray:
    """The observations at steps ``t`` of recorded episodes: q, targets (E, T+1, 16) (targets[k]
    is the target in force while q[k] was reached), wrist (E, 4), axis (E, 3), t (E, K) step
    indices -> (E, K, obs_dim). Steps before the episode start repeat its first step, as a reset
    fills the history."""
    k = np.clip(t[..., None] + np.arange(-history + 1, 1), 0, None)         # (E, K, H)
    e = np.arange(q.shape[0])[:, None, None]
    pairs = np.stack([q[e, k], targets[e, k]], axis=-2)                     # (E, K, H, 2, 16)
    hist = pairs.reshape(*t.shape, history * 2 * joint_order.NUM_JOINTS)
    return np.concatenate([hist, np.broadcast_to(wrist[:, None], (*t.shape, WRIST_DIM)),
                           np.broadcast_to(axis[:, None], (*t.shape, AXIS_DIM))], axis=-1)


def base_target(previous: np.ndarray, action: np.ndarray, scale: float = ACTION_SCALE) -> np.ndarray:
    """The action rule: the new position target from the previous one and a policy action (numpy
    arrays or torch tensors)."""
    return joint_order.clip_to_limits(previous + scale * namespace(action).clip(action, -1.0, 1.0))


def commanded_target(base: np.ndarray, residual: np.ndarray, cap: float = RESIDUAL_CAP) -> np.ndarray:
    """What the hand is sent: base target plus the residual capped per joint, within the joint
    limits. Works on numpy arrays and on torch tensors (residual training differentiates it)."""
    return joint_order.clip_to_limits(base + namespace(residual).clip(residual, -cap, cap))


def check_residual_bound(bound: float | None, what: str) -> None:
    """Raise ValueError unless a residual artifact's tanh bound is the contract's cap."""
    if bound is None or abs(bound - RESIDUAL_CAP) > 1e-9:
        raise ValueError(f"{what}: residual bound {bound} rad, but the contract's cap is {RESIDUAL_CAP} rad "
                         "(retrain the residual)")
