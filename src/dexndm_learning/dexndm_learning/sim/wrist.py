"""Wrist orientations.

The *hand frame* H is the frame of the hand mount: x points from the wrist toward the
fingertips, z points out of the palmar side (the side the fingers close toward), y = z cross x
(toward the ring finger). A wrist orientation is the rotation world <- H. With the identity the
palm faces up (world z is gravity-up).

Quaternions are (w, x, y, z) everywhere in this project, as in MuJoCo and ROS messages' order
of meaning; scipy's (x, y, z, w) is converted only inside this module.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

# Named orientations as rotations world <- H.
_NAMED = {
    "palm_up": Rotation.identity(),
    "palm_down": Rotation.from_euler("x", 180, degrees=True),
    # The thumb points along H -y; rotating -90 deg about x brings -y to world +z.
    "thumb_up": Rotation.from_euler("x", -90, degrees=True),
    "thumb_down": Rotation.from_euler("x", 90, degrees=True),
    # "Base" is the wrist end of the hand: base up means the fingers point down.
    "base_up": Rotation.from_euler("y", 90, degrees=True),
    "base_down": Rotation.from_euler("y", -90, degrees=True),
}
NAMED_WRISTS: tuple[str, ...] = tuple(_NAMED)


def to_wxyz(rot: Rotation) -> np.ndarray:
    x, y, z, w = rot.as_quat()
    q = np.array([w, x, y, z])
    return q if q[0] >= 0 else -q


def from_wxyz(q) -> Rotation:
    q = np.asarray(q, dtype=float)
    return Rotation.from_quat(np.concatenate([q[..., 1:], q[..., :1]], axis=-1))


def wrist_rotation(wrist: str | np.ndarray | list | tuple) -> Rotation:
    """A named wrist orientation or a (w, x, y, z) quaternion -> Rotation world <- H."""
    if isinstance(wrist, str):
        try:
            return _NAMED[wrist]
        except KeyError:
            raise ValueError(f"unknown wrist orientation '{wrist}'; valid: {list(NAMED_WRISTS)} "
                             "or a quaternion (w, x, y, z)") from None
    q = np.asarray(wrist, dtype=float)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-6:
        raise ValueError(f"wrist quaternion must be 4 finite numbers (w, x, y, z), got {wrist!r}")
    return from_wxyz(q / np.linalg.norm(q))


def wrist_name(q, tol_deg: float = 1.0) -> str | None:
    """The named wrist within ``tol_deg`` of the (w, x, y, z) quaternion ``q``, else None."""
    rot = from_wxyz(q)
    for name, named in _NAMED.items():
        if np.degrees((named.inv() * rot).magnitude()) < tol_deg:
            return name
    return None


def wrist_quat(wrist) -> np.ndarray:
    """(w, x, y, z) of a named wrist or a quaternion, normalized with w >= 0."""
    return to_wxyz(wrist_rotation(wrist))


GRAVITY = np.array([0.0, 0.0, -9.81])


def gravity_in_hand(wrist) -> np.ndarray:
    """Gravity in the hand frame for a wrist orientation (name or quaternion). A hand fixed in
    the world with gravity rotated by this is physically the same as the hand at that wrist
    orientation; the rotation environment and the grasp sampler use it so one model serves
    every wrist."""
    return wrist_rotation(wrist).inv().apply(GRAVITY)


def random_wrist_quats(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random orientations, (n, 4) wxyz."""
    rots = Rotation.random(n, random_state=rng)
    return np.stack([to_wxyz(r) for r in rots])
