"""The one joint-order map of the project.

Three orders exist for the 16 LEAP Hand joints and every conversion goes through this module:

``MJ`` (ours; the MuJoCo model, ROS ``JointState`` names, every array in the project unless a
name says otherwise). Menagerie's order, finger by finger, within a finger
``mcp`` (flexion), ``rot`` (abduction), ``pip``, ``dip``; thumb ``cmc``, ``axl``, ``mcp``, ``ipl``::

    0 if_mcp   1 if_rot   2 if_pip   3 if_dip       index
    4 mf_mcp   5 mf_rot   6 mf_pip   7 mf_dip       middle
    8 rf_mcp   9 rf_rot  10 rf_pip  11 rf_dip       ring
   12 th_cmc  13 th_axl  14 th_mcp  15 th_ipl       thumb

``MOTOR`` (hardware Dynamixel ids 0-15): index 0-3, middle 4-7, ring 8-11, thumb 12-15; within a
finger abduction, flexion, PIP, DIP (so ``rot`` and ``mcp`` swap places with respect to MJ).

``ISAAC`` (LEAP_Hand_Sim / the DexNDM paper's tables): fingers in the order index, thumb, middle,
ring, each finger's joints as in MJ.

Angles: the simulator and the whole project use *sim angles* (0 = flat open hand, positive
closes). Motors report *motor angles* = sim angle + pi. Only the hardware driver converts.

Arrays are converted along their last axis, so batches ``(..., 16)`` work unchanged.
"""
from __future__ import annotations

import enum
import math

import numpy as np

from dexndm_learning.arrays import is_torch_array, like

NUM_JOINTS = 16

JOINT_NAMES: tuple[str, ...] = (
    "if_mcp", "if_rot", "if_pip", "if_dip",
    "mf_mcp", "mf_rot", "mf_pip", "mf_dip",
    "rf_mcp", "rf_rot", "rf_pip", "rf_dip",
    "th_cmc", "th_axl", "th_mcp", "th_ipl",
)
FINGERS: dict[str, tuple[int, ...]] = {
    "index": (0, 1, 2, 3),
    "middle": (4, 5, 6, 7),
    "ring": (8, 9, 10, 11),
    "thumb": (12, 13, 14, 15),
}


class Order(str, enum.Enum):
    MJ = "mj"
    MOTOR = "motor"
    ISAAC = "isaac"


# _MJ_INDEX[order][k] = the MJ index of the joint stored at slot k of an array in `order`.
_MJ_INDEX: dict[Order, np.ndarray] = {
    Order.MJ: np.arange(NUM_JOINTS),
    # Menagerie index -> motor id is [1,0,2,3, 5,4,6,7, 9,8,10,11, 12..15]; it is its own inverse.
    Order.MOTOR: np.array([1, 0, 2, 3, 5, 4, 6, 7, 9, 8, 10, 11, 12, 13, 14, 15]),
    Order.ISAAC: np.array([0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 8, 9, 10, 11]),
}

MOTOR_ANGLE_OFFSET = math.pi
"""motor angle = sim angle + MOTOR_ANGLE_OFFSET."""


def permutation(src: Order | str, dst: Order | str) -> np.ndarray:
    """Index array ``p`` with ``x_dst = x_src[..., p]``."""
    src, dst = Order(src), Order(dst)
    src_slot_of_mj = np.argsort(_MJ_INDEX[src])
    return src_slot_of_mj[_MJ_INDEX[dst]]


def convert(x, src: Order | str, dst: Order | str) -> np.ndarray:
    """Reorder the last axis of ``x`` (length 16) from order ``src`` to order ``dst``."""
    x = np.asarray(x)
    if x.shape[-1] != NUM_JOINTS:
        raise ValueError(f"expected 16 joints on the last axis, got shape {x.shape}")
    return x[..., permutation(src, dst)]


def names(order: Order | str = Order.MJ) -> tuple[str, ...]:
    """Joint names (our MJ names) listed in ``order``."""
    return tuple(JOINT_NAMES[i] for i in _MJ_INDEX[Order(order)])


def sim_to_motor_angles(q_sim_mj) -> np.ndarray:
    """Sim angles in MJ order -> motor angles (radians, pi = flat) in motor-id order."""
    return convert(q_sim_mj, Order.MJ, Order.MOTOR) + MOTOR_ANGLE_OFFSET


def motor_to_sim_angles(q_motor) -> np.ndarray:
    """Motor angles in motor-id order -> sim angles in MJ order."""
    return convert(np.asarray(q_motor) - MOTOR_ANGLE_OFFSET, Order.MOTOR, Order.MJ)


# Joint limits (sim angles, rad, MJ order). Fingers from the Menagerie model; thumb from the
# LEAP Hand API hardware limits (motor ids 12-15), which are trusted over Menagerie's thumb ranges.
_FINGER_LOWER = (-0.314, -1.047, -0.506, -0.366)
_FINGER_UPPER = (2.23, 1.047, 1.885, 2.042)
LOWER = np.array(_FINGER_LOWER * 3 + (-0.349, -0.47, -1.20, -1.34))
UPPER = np.array(_FINGER_UPPER * 3 + (2.094, 2.443, 1.90, 1.88))


def limits(order: Order | str = Order.MJ) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) sim-angle limits in ``order``."""
    return convert(LOWER, Order.MJ, order), convert(UPPER, Order.MJ, order)


def clip_to_limits(q_mj, margin: float = 0.0) -> np.ndarray:
    """Clamp sim angles in MJ order to the joint limits shrunk by ``margin`` (a numpy array, a list,
    or a torch tensor on any device: the result is of its kind)."""
    if is_torch_array(q_mj):
        return q_mj.clamp(*_limits_like(margin, q_mj))
    return np.clip(q_mj, LOWER + margin, UPPER - margin)


_DEVICE_LIMITS: dict = {}


def _limits_like(margin: float, ref) -> tuple:
    """The shrunk limits as tensors of ``ref``'s dtype and device, made once per kind: a copy to a
    GPU every step would wait for the work queued on it."""
    import torch

    key = (float(margin), ref.dtype, ref.device)
    if key not in _DEVICE_LIMITS:
        with torch.inference_mode(False):     # usable later in autograd too (residual training)
            _DEVICE_LIMITS[key] = like(LOWER + margin, ref), like(UPPER - margin, ref)
    return _DEVICE_LIMITS[key]


def within_limits(q_mj, tol: float = 1e-9) -> bool:
    q = np.asarray(q_mj)
    return bool(np.all(np.isfinite(q)) and np.all(q >= LOWER - tol) and np.all(q <= UPPER + tol))


# The DexNDM paper's canonical grasp pose (method.md section 4), given in Isaac Gym order.
CANONICAL_GRASP_ISAAC = np.array([
    1.244, 0.082, 0.265, 0.298, 1.163, 1.104, 0.953, -0.138,
    1.096, 0.005, 0.080, 0.150, 1.337, 0.029, 0.285, 0.317,
])
CANONICAL_GRASP = convert(CANONICAL_GRASP_ISAAC, Order.ISAAC, Order.MJ)
"""The canonical grasp in MJ order."""

FLEXION_JOINTS = np.array([1, 0, 1, 1] * 3 + [0, 0, 1, 1], dtype=float)
"""MJ order: 1 for joints that close the hand (not abduction, not the thumb's two base rotations)."""

OPEN_POSE = np.zeros(NUM_JOINTS)
"""Flat open hand (sim angle 0 on every joint, motor angle pi)."""


class JointCommandError(ValueError):
    """A joint command that must not reach the hand (wrong size, NaN/inf, outside the limits)."""


def validate_targets(q_mj, tol: float = 1e-6) -> np.ndarray:
    """Return ``q_mj`` as a float array if it is a safe command, else raise JointCommandError."""
    q = np.asarray(q_mj, dtype=float)
    if q.shape != (NUM_JOINTS,):
        raise JointCommandError(f"expected 16 joint targets, got shape {q.shape}")
    bad = ~np.isfinite(q)
    if bad.any():
        raise JointCommandError(f"non-finite targets for {[JOINT_NAMES[i] for i in np.flatnonzero(bad)]}")
    out = (q < LOWER - tol) | (q > UPPER + tol)
    if out.any():
        details = ", ".join(f"{JOINT_NAMES[i]}={q[i]:.3f} not in [{LOWER[i]:.3f}, {UPPER[i]:.3f}]"
                            for i in np.flatnonzero(out))
        raise JointCommandError(f"targets outside joint limits: {details}")
    return q


def reorder_by_names(values, names_in) -> np.ndarray:
    """Values listed under ``names_in`` (any order of our 16 joint names) -> MJ order."""
    names_in = list(names_in)
    if sorted(names_in) != sorted(JOINT_NAMES):
        missing = sorted(set(JOINT_NAMES) - set(names_in))
        unknown = sorted(set(names_in) - set(JOINT_NAMES))
        raise JointCommandError(f"joint names must be our 16 names; missing {missing}, unknown {unknown}")
    values = np.asarray(values, dtype=float)
    return values[[names_in.index(n) for n in JOINT_NAMES]]
