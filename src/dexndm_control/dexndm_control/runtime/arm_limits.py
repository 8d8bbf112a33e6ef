"""Safety limits for Cartesian arm targets and the hand's wrist orientation (no ROS).

Poses are in the Franka base frame (world, z up). Quaternions are (w, x, y, z).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from dexndm_learning.sim.wrist import from_wxyz, to_wxyz


@dataclass(frozen=True)
class Pose:
    position: np.ndarray   # (3,) metres
    rotation: Rotation     # world <- frame

    @classmethod
    def from_arrays(cls, position, quat_wxyz) -> "Pose":
        """Validated pose: finite numbers and a non-zero quaternion (normalized here)."""
        p = np.asarray(position, dtype=float)
        q = np.asarray(quat_wxyz, dtype=float)
        if p.shape != (3,) or q.shape != (4,):
            raise ValueError(f"pose needs 3 position and 4 quaternion numbers, got {p.shape}, {q.shape}")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
            raise ValueError(f"pose has NaN/inf: position {p.tolist()}, quaternion {q.tolist()}")
        n = np.linalg.norm(q)
        if n < 1e-6:
            raise ValueError(f"quaternion {q.tolist()} is not a rotation (norm {n:.2g})")
        return cls(p, from_wxyz(q / n))

    def quat_wxyz(self) -> np.ndarray:
        return to_wxyz(self.rotation)


def wrist_orientation(ee_rotation: Rotation, mount_rotation: Rotation) -> Rotation:
    """world <- H from world <- EE (the robot's end-effector pose) and EE <- H (the hand mount)."""
    return ee_rotation * mount_rotation


def limit_step(ref: Pose, goal: Pose, max_linear: float, max_angular: float) -> Pose:
    """Move from ``ref`` toward ``goal`` by at most ``max_linear`` metres (straight line) and
    ``max_angular`` radians (shortest rotation), each limit applied on its own."""
    d = goal.position - ref.position
    dist = float(np.linalg.norm(d))
    position = ref.position + d * (max_linear / dist) if dist > max_linear else goal.position.copy()
    delta = (goal.rotation * ref.rotation.inv()).as_rotvec()   # world-frame rotation, angle <= pi
    angle = float(np.linalg.norm(delta))
    if angle > max_angular:
        rotation = Rotation.from_rotvec(delta * (max_angular / angle)) * ref.rotation
    else:
        rotation = goal.rotation
    return Pose(position, rotation)


@dataclass(frozen=True)
class ArmLimits:
    """Axis-aligned workspace box for the target position and speed limits per published step."""
    workspace_min: np.ndarray
    workspace_max: np.ndarray
    max_linear_speed: float    # m/s
    max_angular_speed: float   # rad/s
    rate_hz: float             # published steps per second

    def __post_init__(self):
        lo, hi = np.asarray(self.workspace_min, float), np.asarray(self.workspace_max, float)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(lo < hi):
            raise ValueError(f"workspace needs 3 bounds with min < max, got {lo.tolist()}, {hi.tolist()}")
        if not (self.max_linear_speed > 0 and self.max_angular_speed > 0 and self.rate_hz > 0):
            raise ValueError("max_linear_speed, max_angular_speed and rate_hz must be > 0")
        object.__setattr__(self, "workspace_min", lo)
        object.__setattr__(self, "workspace_max", hi)

    def clamp(self, position: np.ndarray) -> np.ndarray:
        return np.clip(position, self.workspace_min, self.workspace_max)

    def next_command(self, ref: Pose, target: Pose) -> Pose:
        """The pose to send this step: ``target`` clamped to the workspace, reached from ``ref``
        (the last sent pose, or the measured one) no faster than the speed limits."""
        goal = Pose(self.clamp(target.position), target.rotation)
        return limit_step(ref, goal, self.max_linear_speed / self.rate_hz,
                          self.max_angular_speed / self.rate_hz)
