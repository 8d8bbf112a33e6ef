"""Rotation-axis sets.

Axes are unit vectors in the **world** frame (gravity-aligned; the frame of the Franka base and
of ``RotationCommand.axis``). The environment rotates them into the hand frame itself.

``general``: 32 directions spread evenly over the sphere (a Fibonacci lattice, rotated so that
one point sits on +z), minus the point closest to each of the six principal axes = 26 axes.
"""
from __future__ import annotations

import numpy as np

PRINCIPAL = {
    "+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0), "+z": (0, 0, 1), "-z": (0, 0, -1),
}


def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    r = np.sqrt(1 - z * z)
    phi = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def general_axes() -> np.ndarray:
    pts = _fibonacci_sphere(32)
    keep = np.ones(len(pts), dtype=bool)
    for axis in PRINCIPAL.values():
        d = pts @ np.asarray(axis, float)
        d[~keep] = -np.inf
        keep[int(np.argmax(d))] = False
    return pts[keep]


_SETS = {
    "z": ["+z", "-z"],
    "x": ["+x", "-x"],
    "y": ["+y", "-y"],
    "xyz": list(PRINCIPAL),
}
AXIS_SETS = tuple(_SETS) + ("general",) + tuple(PRINCIPAL)


def axis_set(name: str) -> np.ndarray:
    """(n, 3) unit axes of a named set: z, x, y (each +-), xyz (all six), general (26), or one of +x..-z."""
    if name == "general":
        return general_axes()
    if name in PRINCIPAL:
        return np.array([PRINCIPAL[name]], dtype=float)
    try:
        return np.array([PRINCIPAL[a] for a in _SETS[name]], dtype=float)
    except KeyError:
        raise ValueError(f"unknown axis set '{name}'; valid: {list(AXIS_SETS)}") from None


def axis_group(axis: np.ndarray) -> str:
    """Report group of an axis: '+-x', '+-y', '+-z' for principal axes, else 'general'."""
    a = np.asarray(axis, float)
    for name in ("x", "y", "z"):
        v = np.asarray(PRINCIPAL["+" + name], float)
        if abs(abs(a @ v) - 1) < 1e-6:
            return f"+-{name}"
    return "general"


def axis_direction(axis: np.ndarray) -> str | None:
    """'+x', '-x', ... for a principal axis, else None: a policy may learn one sense of an axis
    and not the other, which the +-x/+-y/+-z groups average away."""
    a = np.asarray(axis, float)
    for name, v in PRINCIPAL.items():
        if abs(a @ np.asarray(v, float) - 1) < 1e-6:
            return name
    return None


def axis_label(axis: np.ndarray) -> str:
    """'+z' for a principal axis, else its components rounded: '(0.58,0.58,0.58)'."""
    return axis_direction(axis) or "(" + ",".join(f"{x:.2f}" for x in np.asarray(axis, float)) + ")"
