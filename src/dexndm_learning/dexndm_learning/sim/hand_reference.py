"""Compare our hand with an independent model of the real LEAP Hand (MuJoCo Menagerie's).

The reference lives outside the project (``shared/reference/menagerie_leap_hand/``: its MJCF and
the two fingertip collision meshes, MIT); ``$DEXNDM_HAND_REFERENCE`` points elsewhere. Nothing
here is used to build our model: the tests and ``scripts/fit_fingertips.py`` use it to check the
numbers copied into ``hand_model``.

Geometry is compared through points: points sampled on the reference meshes, and points on our
primitive geoms' surfaces (those inside another geom of the same body dropped), so a distance to
"our surface" is a nearest-point distance (an upper bound on the exact one, off by at most half
the sampling spacing).
"""
from __future__ import annotations

import os
from pathlib import Path

import mujoco
import numpy as np
import trimesh
from scipy.spatial import cKDTree

from dexndm_learning.config import repo_root

TIP_MESHES = {"if_ds": "tip", "mf_ds": "tip", "rf_ds": "tip", "th_ds": "thumb_tip"}
FINGER_AXIS = np.array([0.0, -1.0, 0.0])
"""Direction along which every distal link (fingers and thumb) points, in its own body frame."""


def reference_dir() -> Path | None:
    """The reference model's folder, or None when it is not on this machine."""
    env = os.environ.get("DEXNDM_HAND_REFERENCE")
    if env:
        path = Path(env)
    else:
        root = repo_root()
        if root is None:
            return None
        path = root.parent / "shared" / "reference" / "menagerie_leap_hand"
    return path if (path / "right_hand.xml").is_file() else None


def load_reference(path: Path) -> mujoco.MjModel:
    """Menagerie's hand with its visual geoms and visual meshes removed (physics unchanged)."""
    assets = {f"{name}.obj": (path / "assets" / f"{name}.obj").read_bytes() for name in ("tip", "thumb_tip")}
    spec = mujoco.MjSpec.from_string((path / "right_hand.xml").read_text(), assets=assets)
    for geom in list(spec.geoms):
        if geom.name.endswith("_visual"):
            spec.delete(geom)
    for mesh in list(spec.meshes):
        if mesh.name not in ("tip", "thumb_tip"):
            spec.delete(mesh)
    return spec.compile()


def tip_mesh_points(path: Path, body: str, count: int = 4000, seed: int = 0) -> np.ndarray:
    """Points on the reference fingertip mesh of ``body`` (its own frame), its vertices included."""
    mesh = trimesh.load(path / "assets" / f"{TIP_MESHES[body]}.obj", force="mesh")
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.vstack([points, mesh.vertices])


def _box_surface(half: np.ndarray, spacing: float) -> np.ndarray:
    faces = []
    for axis in range(3):
        a, b = [k for k in range(3) if k != axis]
        ga = np.arange(-half[a], half[a] + 1e-12, spacing)
        gb = np.arange(-half[b], half[b] + 1e-12, spacing)
        ua, ub = (g.ravel() for g in np.meshgrid(ga, gb))
        for sign in (-1.0, 1.0):
            p = np.zeros((len(ua), 3))
            p[:, axis], p[:, a], p[:, b] = sign * half[axis], ua, ub
            faces.append(p)
    return np.vstack(faces)


def _sphere_dirs(count: int) -> np.ndarray:
    """``count`` near-uniform unit vectors (Fibonacci sphere)."""
    k = np.arange(count) + 0.5
    z = 1 - 2 * k / count
    phi = np.pi * (1 + 5 ** 0.5) * k
    r = np.sqrt(1 - z ** 2)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


def _geom_surface_local(model: mujoco.MjModel, g: int, spacing: float) -> np.ndarray:
    size = model.geom_size[g]
    kind = mujoco.mjtGeom(int(model.geom_type[g]))
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        return _box_surface(size, spacing)
    if kind in (mujoco.mjtGeom.mjGEOM_ELLIPSOID, mujoco.mjtGeom.mjGEOM_SPHERE):
        radii = size if kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID else np.full(3, size[0])
        area = 4 * np.pi * max(radii) ** 2
        return _sphere_dirs(int(area / spacing ** 2) + 64) * radii
    if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        r, h = size[0], size[1]
        dirs = _sphere_dirs(int(4 * np.pi * r ** 2 / spacing ** 2) + 64) * r
        dirs[:, 2] += np.sign(dirs[:, 2]) * h
        ring = int(2 * np.pi * r / spacing) + 8
        ang = np.linspace(0, 2 * np.pi, ring, endpoint=False)
        zs = np.arange(-h, h + 1e-12, spacing)
        side = np.stack([np.repeat(r * np.cos(ang)[None], len(zs), 0).ravel(),
                         np.repeat(r * np.sin(ang)[None], len(zs), 0).ravel(),
                         np.repeat(zs, ring)], 1)
        return np.vstack([dirs, side])
    raise ValueError(f"geom {model.geom(g).name}: type {kind} is not a primitive this check samples")


def _inside(model: mujoco.MjModel, g: int, local: np.ndarray) -> np.ndarray:
    """Whether points (in geom ``g``'s frame) lie strictly inside it."""
    size = model.geom_size[g]
    kind = mujoco.mjtGeom(int(model.geom_type[g]))
    eps = 1e-7
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        return np.all(np.abs(local) < size - eps, axis=1)
    if kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
        return np.sum((local / size) ** 2, axis=1) < 1 - 1e-6
    if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        return np.linalg.norm(local, axis=1) < size[0] - eps
    if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        z = np.clip(local[:, 2], -size[1], size[1])
        return np.linalg.norm(local - np.stack([0 * z, 0 * z, z], 1), axis=1) < size[0] - eps
    raise ValueError(f"geom {model.geom(g).name}: type {kind} is not a primitive this check samples")


def _geom_pose(model: mujoco.MjModel, g: int) -> tuple[np.ndarray, np.ndarray]:
    rot = np.empty(9)
    mujoco.mju_quat2Mat(rot, model.geom_quat[g])
    return model.geom_pos[g], rot.reshape(3, 3)


def body_surface_points(model: mujoco.MjModel, body: str, spacing: float = 0.0004, name_has: str = "") -> np.ndarray:
    """Points on the surface of the union of ``body``'s collision geoms (those whose name
    contains ``name_has``), in the body's frame."""
    geoms = [g for g in np.flatnonzero(model.geom_bodyid == model.body(body).id)
             if (model.geom_contype[g] or model.geom_conaffinity[g]) and name_has in model.geom(g).name]
    poses = {g: _geom_pose(model, g) for g in geoms}
    out = []
    for g in geoms:
        pos, rot = poses[g]
        pts = _geom_surface_local(model, g, spacing) @ rot.T + pos
        keep = np.ones(len(pts), bool)
        for h in geoms:
            if h != g:
                hp, hr = poses[h]
                keep &= ~_inside(model, h, (pts - hp) @ hr)
        out.append(pts[keep])
    return np.vstack(out)


def tip_end(points: np.ndarray, band: float = 0.001) -> np.ndarray:
    """The fingertip's end: mean of the points within ``band`` of the farthest along the finger."""
    along = points @ FINGER_AXIS
    return points[along > along.max() - band].mean(0)


def distance_to_surface(points: np.ndarray, surface: np.ndarray) -> np.ndarray:
    return cKDTree(surface).query(points)[0]


def body_world_point(data: mujoco.MjData, body_id: int, local: np.ndarray) -> np.ndarray:
    return data.xpos[body_id] + data.xmat[body_id].reshape(3, 3) @ local


def full_inertia(model: mujoco.MjModel, body_id: int) -> np.ndarray:
    """The body's inertia tensor about its centre of mass, in the body frame."""
    rot = np.empty(9)
    mujoco.mju_quat2Mat(rot, model.body_iquat[body_id])
    rot = rot.reshape(3, 3)
    return rot @ np.diag(model.body_inertia[body_id]) @ rot.T
