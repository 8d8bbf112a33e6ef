"""Object sets for in-hand rotation, generated deterministically from a seed.

Five training categories and a held-out test set after the paper's Table 14 (method.md section
4). Every object is a compound of MuJoCo primitives (box, sphere, capsule, cylinder, ellipsoid)
or convex mesh pieces, centred on its bounding box, so it is cheap to collide (at most 8 geoms).

How we read Table 14 (the paper mixes pre- and post-scale numbers; our choice gives objects the
LEAP Hand can hold at the canonical grasp, which closes on a 5 cm cylinder, and matches the
real objects the paper lists):

* cylinders (normal and small): "min extent" is the *radius* of the unscaled cylinder and
  "aspect ratio" is length / radius, as in Hora's generator (radius 0.04, length =
  2 r x 0.8..1.2). Radius = min extent x scale: normal 5.6-6.9 cm diameter, 4.5-8.3 cm long
  (cf. the real 5.5 x 5.5 cm cylinder); small 2.5-3.0 cm diameter, 2.4-3.8 cm long (cf. the real
  3 x 3 x 2.5 cm small objects). The 9 shapes take the 9 aspect ratios evenly spaced over the
  range (Hora's 0.8, 0.85, ..., 1.2); each gets its own scale.
* cuboids (normal and long): smallest side = min extent x scale (normal 4.5-5.5 cm, cf. the real
  5 cm cube; long 3-4 cm thick, cf. the real 3 x 10 x 3 cm cuboid), longest side = aspect ratio x
  smallest side (long cuboids reach 20-27 cm at 6.67), middle side in between.
* complex: smallest bounding-box extent = U(0.056, 0.115) x U(0.6, 0.7) = 3.4-8 cm, bounding-box
  aspect ratio (longest / shortest) in [1.05, 2.0] by rejection over each template's parameters.
  Templates are procedural non-convex silhouettes (letters, dumbbells, jacks, furniture,
  vehicles, animals: duck, bunny, elephant, ...); 120 objects as in the paper.
* test: ContactDB-like everyday objects (apple, mug, flute, hammer, ...) modelled at real-world
  size and scaled by U(0.5, 0.6); bounding-box aspect ratio 1 (cube, sphere) to about 11.5
  (flute). 31 shapes (the paper has 26); no test template is used in training.

Mass U(0.01, 0.05) kg and friction U(0.3, 3.0) are each object's nominal values.

Contacts: object geoms get ``priority=1``, so the object's friction and condim (not MuJoCo's
default max-mixing with the hand's friction 1.0) decide hand-object contacts; otherwise a
friction below 1.0 would have no effect. ``condim=4`` adds torsional friction (coefficient
``TORSIONAL_PATCH x friction``, the torque of a ~4.5 mm soft contact patch): without it an
object pinched between two fingertips spins freely about the pinch axis, a sim artefact a
rotation policy would exploit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import mujoco
import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from dexndm_learning.sim.wrist import from_wxyz, to_wxyz

MASS_RANGE = (0.01, 0.05)          # kg
FRICTION_RANGE = (0.3, 3.0)
TORSIONAL_PATCH = 0.003            # m; torsional friction = TORSIONAL_PATCH x sliding friction
ROLLING_FRICTION = 0.0001
MAX_GEOMS = 8

_GEOM_TYPE = {"box": mujoco.mjtGeom.mjGEOM_BOX, "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
              "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE, "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
              "ellipsoid": mujoco.mjtGeom.mjGEOM_ELLIPSOID, "mesh": mujoco.mjtGeom.mjGEOM_MESH}
_IDENTITY = (1.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Part:
    """One geom. ``size`` follows MuJoCo: half sizes; capsule/cylinder (radius, half length
    along local z); sphere (radius,). A ``mesh`` part has vertices (object frame) and faces of a
    convex piece and no size/pos/quat."""

    type: str
    size: tuple[float, ...] = ()
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = _IDENTITY
    vertices: tuple[tuple[float, float, float], ...] = ()
    faces: tuple[tuple[int, int, int], ...] = ()

    def volume(self) -> float:
        s = self.size
        if self.type == "box":
            return 8.0 * s[0] * s[1] * s[2]
        if self.type == "sphere":
            return 4.0 / 3.0 * math.pi * s[0] ** 3
        if self.type == "ellipsoid":
            return 4.0 / 3.0 * math.pi * s[0] * s[1] * s[2]
        if self.type == "capsule":
            return math.pi * s[0] ** 2 * 2.0 * s[1] + 4.0 / 3.0 * math.pi * s[0] ** 3
        if self.type == "cylinder":
            return math.pi * s[0] ** 2 * 2.0 * s[1]
        return float(trimesh.convex.convex_hull(np.array(self.vertices)).volume)

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        """(min corner, max corner) in the object frame."""
        if self.type == "mesh":
            v = np.array(self.vertices)
            return v.min(0), v.max(0)
        rot = from_wxyz(self.quat).as_matrix()
        s = np.array(self.size)
        if self.type == "sphere":
            half = np.full(3, s[0])
        elif self.type == "box":
            half = np.abs(rot) @ s
        elif self.type == "ellipsoid":
            half = np.sqrt((rot * s) ** 2 @ np.ones(3))
        else:
            axis = np.abs(rot[:, 2])
            radial = 1.0 if self.type == "capsule" else np.sqrt(np.clip(1.0 - axis ** 2, 0.0, 1.0))
            half = axis * s[1] + s[0] * radial
        c = np.array(self.pos)
        return c - half, c + half

    def transformed(self, scale: float, shift) -> "Part":
        """Scaled about the origin, then shifted."""
        shift = np.asarray(shift, dtype=float)
        if self.type == "mesh":
            return replace(self, vertices=_vtuple(np.array(self.vertices) * scale + shift))
        return replace(self, size=tuple(float(x) * scale for x in self.size),
                       pos=tuple(float(x) for x in np.array(self.pos) * scale + shift))


@dataclass(frozen=True)
class ObjectSpec:
    """One object: geometry (centred on its bounding box), nominal mass (kg) and friction."""

    name: str
    category: str
    parts: tuple[Part, ...]
    mass: float
    friction: float
    half_extents: tuple[float, float, float]

    @property
    def aspect_ratio(self) -> float:
        """Longest / shortest bounding-box extent."""
        return max(self.half_extents) / min(self.half_extents)

    @property
    def min_extent(self) -> float:
        return 2.0 * min(self.half_extents)


# --- building blocks ---------------------------------------------------------------------------
def _vtuple(v) -> tuple:
    return tuple(tuple(float(x) for x in row) for row in np.asarray(v))


def _q(axis: str, deg: float) -> tuple:
    return tuple(to_wxyz(Rotation.from_euler(axis, deg, degrees=True)))


def _box(hx, hy, hz, pos=(0, 0, 0), quat=_IDENTITY) -> Part:
    return Part("box", (hx, hy, hz), tuple(pos), tuple(quat))


def _sphere(r, pos=(0, 0, 0)) -> Part:
    return Part("sphere", (r,), tuple(pos))


def _ellipsoid(a, b, c, pos=(0, 0, 0), quat=_IDENTITY) -> Part:
    return Part("ellipsoid", (a, b, c), tuple(pos), tuple(quat))


def _seg(kind: str, p0, p1, r) -> Part:
    """A capsule or cylinder of radius ``r`` whose axis runs from ``p0`` to ``p1``."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    length = float(np.linalg.norm(d))
    rot, _ = Rotation.align_vectors([d / length], [[0.0, 0.0, 1.0]])
    return Part(kind, (r, length / 2.0), tuple((p0 + p1) / 2.0), tuple(to_wxyz(rot)))


def _cap(p0, p1, r) -> Part:
    return _seg("capsule", p0, p1, r)


def _cyl(p0, p1, r) -> Part:
    return _seg("cylinder", p0, p1, r)


def _convex(points) -> Part:
    hull = trimesh.convex.convex_hull(np.asarray(points, dtype=float))
    return Part("mesh", vertices=_vtuple(hull.vertices), faces=tuple(tuple(int(i) for i in f) for f in hull.faces))


def _bounds(parts) -> tuple[np.ndarray, np.ndarray]:
    boxes = [p.aabb() for p in parts]
    return np.min([b[0] for b in boxes], 0), np.max([b[1] for b in boxes], 0)


def _finish(name, category, parts, rng, scale: float) -> ObjectSpec:
    """Scale ``parts`` by ``scale``, centre them on their bounding box, draw mass and friction."""
    lo, hi = _bounds(parts)
    parts = tuple(p.transformed(scale, -scale * (lo + hi) / 2.0) for p in parts)
    half = tuple(float(x) for x in scale * (hi - lo) / 2.0)
    mass = float(rng.uniform(*MASS_RANGE))
    friction = float(rng.uniform(*FRICTION_RANGE))
    return ObjectSpec(name, category, parts, mass, friction, half)


# --- the paper's Table 14 and our reading of it --------------------------------------------------
@dataclass(frozen=True)
class CategoryTable:
    count: int
    min_extent: tuple[float, float]   # as printed in the paper (m)
    aspect: tuple[float, float]
    scale: tuple[float, float]


PAPER_TABLE: dict[str, CategoryTable] = {
    "normal_cylinders": CategoryTable(9, (0.04, 0.04), (1.6, 2.4), (0.70, 0.86)),
    "normal_cuboids": CategoryTable(9, (0.064, 0.064), (1.25, 1.5), (0.70, 0.86)),
    "long_cuboids": CategoryTable(4, (0.06, 0.08), (2.5, 6.67), (0.5, 0.5)),
    "small_cylinders": CategoryTable(9, (0.025, 0.025), (1.92, 2.56), (0.5, 0.6)),
    "complex": CategoryTable(120, (0.056, 0.115), (1.05, 2.0), (0.6, 0.7)),
    "test": CategoryTable(26, (0.017, 0.153), (1.0, 11.67), (0.5, 0.6)),
}
SET_NAMES: tuple[str, ...] = tuple(PAPER_TABLE)
TRAINING_SETS: tuple[str, ...] = SET_NAMES[:-1]


def _cylinders(category: str, prefix: str, rng) -> list[ObjectSpec]:
    t = PAPER_TABLE[category]
    out = []
    for i, ratio in enumerate(np.linspace(*t.aspect, t.count)):
        radius = t.min_extent[0] * rng.uniform(*t.scale)
        part = Part("cylinder", (radius, ratio * radius / 2.0))
        out.append(_finish(f"{prefix}_{i:02d}", category, [part], rng, 1.0))
    return out


def _cuboids(category: str, prefix: str, rng, middle: tuple[float, float]) -> list[ObjectSpec]:
    """``middle``: the middle side as a fraction of the way from the smallest to the longest."""
    t = PAPER_TABLE[category]
    out = []
    for i, ratio in enumerate(np.linspace(*t.aspect, t.count)):
        short = rng.uniform(*t.min_extent) * rng.uniform(*t.scale)
        mid = short + rng.uniform(*middle) * (ratio - 1.0) * short
        part = _box(short / 2.0, mid / 2.0, ratio * short / 2.0)
        out.append(_finish(f"{prefix}_{i:02d}", category, [part], rng, 1.0))
    return out


# --- complex (training) templates: parts in arbitrary units, scaled afterwards ---------------------
# Each takes u(lo, hi) -> uniform sample and returns parts.
def _l_shape(u):
    a, b, w, t = u(5, 7), u(4, 7), u(2, 3), u(3.2, 4.5)
    return [_box(a / 2, w / 2, t / 2, (a / 2, w / 2, 0)), _box(w / 2, b / 2, t / 2, (w / 2, b / 2, 0))]


def _t_shape(u):
    a, b, w, t = u(5, 7), u(4, 6), u(1.8, 2.8), u(3, 4)
    return [_box(a / 2, w / 2, t / 2, (0, b, 0)), _box(w / 2, b / 2, t / 2, (0, b / 2, 0))]


def _u_shape(u):
    a, b, w, t = u(5, 7), u(4, 6), u(1.5, 2.2), u(3, 4)
    return [_box(a / 2, w / 2, t / 2), _box(w / 2, b / 2, t / 2, (-a / 2 + w / 2, b / 2, 0)),
            _box(w / 2, b / 2, t / 2, (a / 2 - w / 2, b / 2, 0))]


def _h_shape(u):
    a, b, w, t = u(4, 6), u(5, 7), u(1.5, 2.2), u(3, 4)
    return [_box(w / 2, b / 2, t / 2, (-a / 2, 0, 0)), _box(w / 2, b / 2, t / 2, (a / 2, 0, 0)),
            _box(a / 2, w / 2, t / 2, (0, u(-1, 1), 0))]


def _z_shape(u):
    a, b, w, t = u(3, 4), u(4.5, 6), u(1.5, 2.2), u(3.5, 4.5)
    return [_box(a / 2, w / 2, t / 2, (a / 2 - w / 2, b / 2, 0)), _box(w / 2, b / 2, t / 2),
            _box(a / 2, w / 2, t / 2, (-a / 2 + w / 2, -b / 2, 0))]


def _plus(u):
    a, b, w, t = u(5, 7), u(4, 7), u(1.6, 2.4), u(3, 4)
    return [_box(a / 2, w / 2, t / 2), _box(w / 2, b / 2, t / 2, (u(-1, 1), 0, 0))]


def _jack(u):
    r, h = u(0.8, 1.2), u(2.5, 3.5)
    return [_cap((-h * u(1.1, 1.6), 0, 0), (h * u(1.1, 1.6), 0, 0), r), _cap((0, -h, 0), (0, h, 0), r),
            _cap((0, 0, -h), (0, 0, h), r), _sphere(r * u(1.5, 2))]


def _tetrapod(u):
    r, h = u(0.8, 1.2), u(3, 4)
    dirs = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / math.sqrt(3)
    stretch = np.array([u(1.3, 1.7), 1.0, 1.0])   # elongated along x, so the aspect ratio exceeds 1
    return [_cap((0, 0, 0), d * stretch * h * u(0.9, 1.1), r) for d in dirs]


def _dumbbell(u):
    r, big = u(0.7, 1.1), u(1.7, 2.4)
    length = big * u(1.3, 1.9)
    return [_cap((-length / 2, 0, 0), (length / 2, 0, 0), r), _sphere(big, (-length / 2, 0, 0)),
            _sphere(big * u(0.8, 1.2), (length / 2, 0, 0))]


def _bone(u):
    r, k = u(1.0, 1.3), u(1.4, 1.7)
    length = r * k * u(1.2, 1.9)
    return [_cap((-length / 2, 0, 0), (length / 2, 0, 0), r)] + [
        _sphere(r * k, (sx * length / 2, sy * r, 0)) for sx in (-1, 1) for sy in (-1, 1)]


def _snowman(u):
    r1 = u(2.2, 2.8)
    r2, r3 = r1 * u(0.65, 0.8), r1 * u(0.45, 0.6)
    z2 = r1 + r2 * 0.4
    z3 = z2 + r2 * 0.6 + r3 * 0.4
    return [_sphere(r1), _sphere(r2, (0, 0, z2)), _sphere(r3, (0, 0, z3)),
            _cap((r3 * 0.8, 0, z3), (r3 + u(0.8, 1.5), 0, z3), r3 * 0.25)]


def _tristar(u):
    r, h, hub = u(0.9, 1.3), u(3, 4), u(1.8, 2.4)
    parts = [_cyl((0, 0, -hub), (0, 0, hub), hub)]
    for k in range(3):
        a = 2 * math.pi * k / 3 + u(-0.2, 0.2)
        parts.append(_cap((0, 0, 0), (h * math.cos(a), h * math.sin(a), 0), r))
    return parts


def _arch(u):
    a, b, w, t = u(5, 7), u(3, 5), u(1.5, 2), u(3, 4)
    return [_box(w / 2, t / 2, b / 2, (-a / 2 + w / 2, 0, 0)), _box(w / 2, t / 2, b / 2, (a / 2 - w / 2, 0, 0)),
            _box(a / 2, t / 2, w / 2, (0, 0, b / 2 + w / 2))]


def _stairs(u):
    s, d = u(1.8, 2.4), u(3, 4)
    return [_box(s / 2, d / 2, s * (k + 1) / 2, (s * k, 0, s * (k + 1) / 2)) for k in range(3)]


def _table(u):
    a, b, h, r = u(5, 7), u(4, 6), u(3, 4.5), u(0.5, 0.8)
    parts = [_box(a / 2, b / 2, u(0.5, 0.8), (0, 0, h))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            p = (sx * (a / 2 - r), sy * (b / 2 - r))
            parts.append(_cap((*p, 0), (*p, h), r))
    return parts


def _chair(u):
    a, h, r = u(4, 5), u(2.5, 3.5), u(0.5, 0.7)
    back = u(3, 4.5)
    parts = [_box(a / 2, a / 2, 0.6, (0, 0, h)), _box(0.6, a / 2, back / 2, (-a / 2 + 0.6, 0, h + back / 2))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_cap((sx * (a / 2 - r), sy * (a / 2 - r), 0), (sx * (a / 2 - r), sy * (a / 2 - r), h), r))
    return parts


def _mushroom(u):
    r, h = u(0.9, 1.4), u(3, 4.5)
    cap_r = u(2.5, 3.2)
    return [_cyl((0, 0, 0), (0, 0, h), r), _ellipsoid(cap_r, cap_r * u(0.8, 1), u(1.2, 1.8), (0, 0, h))]


def _rocket(u):
    r, h = u(1.4, 1.9), u(5, 7)
    parts = [_cyl((0, 0, -h / 2), (0, 0, h / 2), r), _ellipsoid(r, r, u(1.5, 2.5), (0, 0, h / 2))]
    for k in range(3):
        a = 2 * math.pi * k / 3
        fin = u(1.4, 2)
        parts.append(_box(fin / 2, 0.25, 1.2, ((r + fin / 2) * math.cos(a), (r + fin / 2) * math.sin(a), -h / 2 + 1.2),
                          _q("z", math.degrees(a))))
    return parts


def _airplane(u):
    length, r = u(6, 8), u(1.2, 1.6)
    span = u(5, 7)
    return [_cap((-length / 2, 0, 0), (length / 2, 0, 0), r), _box(u(1.2, 1.8), span / 2, 0.4, (u(-0.5, 0.5), 0, 0)),
            _box(0.8, span / 5, 0.3, (-length / 2, 0, 0)), _box(0.8, 0.3, u(1.5, 2.5), (-length / 2, 0, 1.5))]


def _wheels(parts, a, b, r, w):
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_cyl((sx * a, sy * b - w / 2, r), (sx * a, sy * b + w / 2, r), r))
    return parts


def _car(u):
    a, b, h = u(3.5, 4.5), u(2, 2.5), u(1.3, 1.8)
    r = u(0.9, 1.2)
    cabin = _box(a * u(0.45, 0.6), b * 0.9, u(0.9, 1.3), (u(-0.5, 0.5), 0, r + h + 0.9))
    parts = [_box(a, b, h / 2, (0, 0, r + h / 2)), cabin]
    return _wheels(parts, a * 0.65, b, r, 0.8)


def _truck(u):
    cab, cargo, b, r = u(1.5, 2), u(3, 4), u(2, 2.5), u(0.9, 1.2)
    h = u(3, 4)
    parts = [_box(cab / 2, b, h / 2, (cargo + cab / 2, 0, r + h / 2)), _box(cargo, b, h * 0.55, (0, 0, r + h * 0.55))]
    return _wheels(parts, cargo * 0.7, b, r, 0.8)


def _octahedron(c, a, b, h):
    c = np.asarray(c, float)
    return _convex([c + p for p in ((a, 0, 0), (-a, 0, 0), (0, b, 0), (0, -b, 0), (0, 0, h), (0, 0, -h))])


def _gem_pair(u):
    a = u(2, 2.8)
    return [_octahedron((0, 0, 0), a, a * u(0.7, 1), a * u(1, 1.5)),
            _octahedron((a * u(1.2, 1.6), 0, a * u(0.5, 1)), a * u(0.7, 1), a * u(0.7, 1), a * u(1, 1.4))]


def _house(u):
    a, b, h = u(2.5, 3.5), u(2, 3), u(2.5, 3.5)
    roof = u(1.5, 2.5)
    prism = [(sx * a, sy * b, h) for sx in (-1, 1) for sy in (-1, 1)] + [(sx * a, 0, h + roof) for sx in (-1, 1)]
    return [_box(a, b, h / 2, (0, 0, h / 2)), _convex(prism),
            _box(0.5, 0.5, roof * 0.6, (a * 0.5, b * 0.5, h + roof * 0.6))]


def _duck(u):
    body, head = u(3.5, 4.5), u(1.6, 2.1)
    return [_ellipsoid(body, body * u(0.65, 0.8), body * u(0.5, 0.65)), _sphere(head, (body * 0.6, 0, body * 0.75)),
            _ellipsoid(head * 0.7, head * 0.4, head * 0.25, (body * 0.6 + head * 1.2, 0, body * 0.7)),
            _ellipsoid(body * 0.35, body * 0.25, body * 0.2, (-body, 0, body * 0.35), _q("y", -30))]


def _bunny(u):
    body, head = u(3, 3.8), u(1.6, 2)
    ear = u(2.2, 3)
    hx, hz = body * 0.7, body * 0.8
    return [_ellipsoid(body, body * 0.75, body * 0.7), _sphere(head, (hx, 0, hz)),
            _cap((hx - 0.3, 0.6, hz + head * 0.8), (hx - 1.2, 0.9, hz + head * 0.8 + ear), 0.5),
            _cap((hx - 0.3, -0.6, hz + head * 0.8), (hx - 1.2, -0.9, hz + head * 0.8 + ear), 0.5),
            _sphere(0.8, (-body, 0, body * 0.2))]


def _elephant(u):
    a, head = u(3.5, 4.2), u(1.8, 2.3)
    leg_h, r = u(2, 3), u(0.7, 0.9)
    z = leg_h + a * 0.55
    parts = [_ellipsoid(a, a * 0.65, a * 0.55, (0, 0, z)), _sphere(head, (a + head * 0.4, 0, z + 0.8)),
             _cap((a + head * 1.1, 0, z + 0.4), (a + head * 1.4, 0, z - u(2, 3)), 0.5),
             _ellipsoid(0.4, head * 1.4, head * 0.9, (a + head * 0.1, 0, z + 0.8))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_cyl((sx * a * 0.55, sy * a * 0.35, 0), (sx * a * 0.55, sy * a * 0.35, z), r))
    return parts


def _bear(u):
    body, head = u(2.8, 3.5), u(1.7, 2.1)
    zh = body * 1.6
    return [_ellipsoid(body, body * 0.85, body * 1.1), _sphere(head, (0, 0, zh)),
            _sphere(0.6, (0, head * 0.7, zh + head * 0.7)), _sphere(0.6, (0, -head * 0.7, zh + head * 0.7)),
            _sphere(head * 0.45, (head * 0.9, 0, zh - 0.3)),
            _cap((0.5, body * 0.8, body * 0.4), (body * 0.9, body * 0.9, -body * 0.2), 0.7),
            _cap((0.5, -body * 0.8, body * 0.4), (body * 0.9, -body * 0.9, -body * 0.2), 0.7)]


def _cow(u):
    a, leg_h = u(3.5, 4.5), u(2, 3)
    z = leg_h + 1.2
    parts = [_ellipsoid(a, a * 0.75, 1.9, (0, 0, z)), _box(1.2, 1.0, 1.0, (a + 0.6, 0, z + 1.2)),
             _cap((a + 0.6, -1.8, z + 2.3), (a + 0.6, 1.8, z + 2.3), 0.3)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_cap((sx * a * 0.6, sy * a * 0.45, 0.5), (sx * a * 0.6, sy * a * 0.45, z), 0.5))
    return parts


def _dog(u):
    a, leg_h = u(1.3, 1.8), u(2, 2.8)
    z = leg_h + 1.1
    parts = [_cap((-a, 0, z), (a, 0, z), 1.8), _sphere(1.5, (a + 1.0, 0, z + 1.5)),
             _ellipsoid(0.4, 2.6, 0.3, (a + 1.0, 0, z + 1.9)),
             _cap((-a - 0.3, 0, z + 0.5), (-a - 0.8, 0, z + 2.5), 0.35)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_cap((sx * a * 0.8, sy * 1.3, 0.4), (sx * a * 0.8, sy * 1.3, z), 0.55))
    return parts


def _giraffe(u):
    a, leg_h, neck = u(2.2, 2.7), u(1.8, 2.5), u(2.2, 3)
    z = leg_h + 1
    parts = [_ellipsoid(a, 1.8, 1.2, (0, 0, z)), _cap((a * 0.8, 0, z + 0.5), (a * 0.8 + neck * 0.3, 0, z + neck), 0.55),
             _ellipsoid(1.1, 0.5, 0.5, (a * 0.8 + neck * 0.3 + 0.5, 0, z + neck + 0.2))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_cap((sx * a * 0.7, sy * 1.1, 0.4), (sx * a * 0.7, sy * 1.1, z), 0.4))
    return parts


def _turtle(u):
    a = u(3.2, 4)
    parts = [_ellipsoid(a, a * 0.8, a * u(0.5, 0.7), (0, 0, 0.5)), _sphere(1.0, (a + 0.6, 0, 0.3))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_ellipsoid(1.2, 0.6, 0.35, (sx * a * 0.6, sy * a * 0.8, -0.2), _q("z", sx * sy * 35)))
    return parts


def _fish(u):
    a = u(3.2, 3.8)
    return [_ellipsoid(a, a * u(0.4, 0.5), a * u(0.6, 0.7)), _ellipsoid(1.0, 0.3, 1.8, (-a - 0.3, 0, 0)),
            _ellipsoid(1.4, 0.25, 1.0, (0, 0, a * 0.6)), _ellipsoid(0.8, a * 0.6 + 0.9, 0.25, (a * 0.3, 0, 0))]


def _bird(u):
    a = u(2.5, 3.2)
    return [_ellipsoid(a, a * 0.6, a * 0.75), _sphere(1.2, (a * 0.9, 0, a * 0.8)),
            _cap((a * 0.9 + 1.0, 0, a * 0.8), (a * 0.9 + 2.0, 0, a * 0.7), 0.3),
            _ellipsoid(a * 0.7, 2.3, 0.35, (0, a * 0.6, 0.4), _q("x", -25)),
            _ellipsoid(a * 0.7, 2.3, 0.35, (0, -a * 0.6, 0.4), _q("x", 25)),
            _ellipsoid(1.2, 0.8, 0.25, (-a - 0.6, 0, 0.3))]


def _snail(u):
    r = u(2, 2.6)
    return [_sphere(r, (0, 0, r)), _cap((-r * 0.8, 0, 0.6), (r * 1.8, 0, 0.6), 0.7),
            _cap((r * 1.6, 0.3, 0.8), (r * 1.9, 0.7, 2.8), 0.2), _cap((r * 1.6, -0.3, 0.8), (r * 1.9, -0.7, 2.8), 0.2)]


def _crab(u):
    a = u(2.5, 3.2)
    parts = [_ellipsoid(a, a * 0.7, 1.8), _sphere(1.1, (a + 0.8, 1.5, 1.2)), _sphere(1.1, (a + 0.8, -1.5, 1.2))]
    for sy in (-1, 1):
        for k in (-1, 1):
            parts.append(_cap((k * 1.0, sy * a * 0.6, 0), (k * 1.8, sy * (a * 0.6 + 1.8), -2.0), 0.3))
    return parts


def _dinosaur(u):
    a, leg_h = u(2.0, 2.5), u(2, 2.8)
    z = leg_h + 1
    return [_ellipsoid(a, 2.2, 1.6, (0, 0, z)), _cap((a * 0.7, 0, z + 0.5), (a * 0.9, 0, z + 3), 0.6),
            _ellipsoid(1.2, 0.6, 0.6, (a * 0.9 + 0.6, 0, z + 3.2)), _cap((-a * 0.8, 0, z), (-a - 1.2, 0, z - 0.8), 0.5),
            _cyl((0, 1.3, 0), (0, 1.3, z), 0.5), _cyl((0, -1.3, 0), (0, -1.3, z), 0.5)]


def _cat(u):
    a = u(2, 2.5)
    zh = a * 1.9
    return [_ellipsoid(a * 0.9, a * 0.95, a * 1.3, (0, 0, a * 1.3)), _sphere(1.5, (0.3, 0, zh + 0.9)),
            _box(0.35, 0.5, 0.5, (0.3, 0.8, zh + 2.0), _q("x", 20)),
            _box(0.35, 0.5, 0.5, (0.3, -0.8, zh + 2.0), _q("x", -20)),
            _cap((-a * 0.8, 0, 0.4), (-a * 1.8, 0, a * 1.5), 0.35)]


def _octopus(u):
    r = u(2, 2.5)
    parts = [_sphere(r, (0, 0, r * 1.6))]
    for k in range(6):
        a = 2 * math.pi * k / 6
        c, s = math.cos(a), math.sin(a)
        parts.append(_cap((0.6 * r * c, 0.6 * r * s, r), (2.2 * r * c, 2.2 * r * s, 0.3), 0.45))
    return parts


def _horse(u):
    a, leg_h = u(1.6, 2.0), u(2.5, 3.2)
    z = leg_h + 0.9
    parts = [_cap((-a, 0, z), (a, 0, z), 1.7), _cap((a * 0.9, 0, z + 0.5), (a * 0.9 + 0.4, 0, z + 2.5), 0.6),
             _ellipsoid(1.0, 0.55, 0.6, (a * 0.9 + 0.9, 0, z + 2.5), _q("y", 30))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_cap((sx * a * 0.8, sy * 0.9, z), (sx * a * 0.8, sy * 1.5, 0.3), 0.4))
    return parts


COMPLEX_TEMPLATES: dict[str, Callable] = {
    "l_shape": _l_shape, "t_shape": _t_shape, "u_shape": _u_shape, "h_shape": _h_shape, "z_shape": _z_shape,
    "plus": _plus, "jack": _jack, "tetrapod": _tetrapod, "dumbbell": _dumbbell, "bone": _bone,
    "snowman": _snowman, "tristar": _tristar, "arch": _arch, "stairs": _stairs, "table": _table,
    "chair": _chair, "mushroom": _mushroom, "rocket": _rocket, "airplane": _airplane, "car": _car,
    "truck": _truck, "gem_pair": _gem_pair, "house": _house, "duck": _duck, "bunny": _bunny,
    "elephant": _elephant, "bear": _bear, "cow": _cow, "dog": _dog, "giraffe": _giraffe,
    "turtle": _turtle, "fish": _fish, "bird": _bird, "snail": _snail, "crab": _crab,
    "dinosaur": _dinosaur, "cat": _cat, "octopus": _octopus, "horse": _horse,
}


def _complex(rng) -> list[ObjectSpec]:
    t = PAPER_TABLE["complex"]
    names = list(COMPLEX_TEMPLATES)
    out = []
    for i in range(t.count):
        template = names[i % len(names)]
        for _ in range(200):   # rejection on the bounding-box aspect ratio
            parts = COMPLEX_TEMPLATES[template](rng.uniform)
            lo, hi = _bounds(parts)
            extent = hi - lo
            if t.aspect[0] <= extent.max() / extent.min() <= t.aspect[1]:
                break
        else:
            raise RuntimeError(f"template '{template}' never met the aspect ratio range {t.aspect}")
        target = rng.uniform(*t.min_extent) * rng.uniform(*t.scale)
        out.append(_finish(f"{template}_{i:03d}", "complex", parts, rng, target / extent.min()))
    return out


# --- test (held-out) templates: real-world size in cm ---------------------------------------------
def _t_apple(u):
    r = u(3.8, 4.3)
    return [_sphere(r), _ellipsoid(r * 1.02, r * 1.02, r * 0.8, (0, 0, -0.3)),
            _cap((0, 0, r * 0.8), (0.3, 0, r + 1.2), 0.35)]


def _t_banana(u):
    R, r = u(11, 13), u(1.7, 2)
    pts = [(R * math.sin(a), 0, R * (1 - math.cos(a))) for a in np.linspace(-0.75, 0.75, 6)]
    return [_cap(pts[k], pts[k + 1], r * (0.75 if k in (0, 4) else 1.0)) for k in range(5)]


def _t_binoculars(u):
    r, length = u(2.6, 3), u(10, 12)
    return [_cyl((0, -r * 1.1, 0), (length, -r * 1.1, 0), r), _cyl((0, r * 1.1, 0), (length, r * 1.1, 0), r),
            _box(length * 0.25, r * 0.6, r * 0.5, (length * 0.5, 0, 0))]


def _t_bowl(u):
    R, h, t = u(6.5, 7.5), u(5, 6), 0.8
    parts = [_cyl((0, 0, 0), (0, 0, t), R * 0.55)]
    for k in range(6):
        a = 2 * math.pi * k / 6
        parts.append(_box(t / 2, R * 0.6, h / 2, (R * 0.8 * math.cos(a), R * 0.8 * math.sin(a), h / 2),
                          tuple(to_wxyz(Rotation.from_euler("zy", [a, -20], degrees=True)))))
    return parts


def _t_camera(u):
    a, b, c = u(5.5, 6.5), u(3, 3.5), u(3.5, 4.2)
    return [_box(a, b, c), _cyl((u(-1, 1), b, 0), (0, b + u(3, 5), 0), u(2.5, 3)),
            _box(1.2, 1.0, 0.8, (-a * 0.6, 0, c + 0.8))]


def _t_cell_phone(u):
    return [_box(u(7, 7.5), u(3.5, 3.8), 0.7), _box(1.5, 1.5, 0.3, (5, 2, 0.9))]


def _t_cube(u):
    s = u(5.5, 6.5) / 2
    return [_box(s, s, s)]


def _t_cup(u):
    R, h, t = u(3.8, 4.3), u(9, 11), 0.8
    parts = [_cyl((0, 0, 0), (0, 0, t), R)]
    for k in range(6):
        a = 2 * math.pi * k / 6
        centre = ((R - t / 2) * math.cos(a), (R - t / 2) * math.sin(a), h / 2)
        parts.append(_box(t / 2, R * 0.58, h / 2, centre, _q("z", math.degrees(a))))
    return parts


def _t_door_knob(u):
    r = u(2.8, 3.2)
    return [_sphere(r, (0, 0, 6)), _cyl((0, 0, 0), (0, 0, 5), 1.0), _cyl((0, 0, -0.5), (0, 0, 0.5), r * 1.2)]


def _t_flashlight(u):
    r, length = u(1.5, 1.8), u(15, 18)
    return [_cyl((0, 0, 0), (0, 0, length), r), _cyl((0, 0, length), (0, 0, length + 4), r * 1.45),
            _box(0.5, 0.4, 1.2, (r, 0, length * 0.6))]


def _t_flute(u):
    r, length = 1.3, u(28.5, 30)
    keys = [_box(0.6, 0.6, 0.3, (r, 0, z)) for z in (length * 0.3, length * 0.5, length * 0.7)]
    return [_cyl((0, 0, 0), (0, 0, length), r)] + keys


def _t_hammer(u):
    length, r = u(24, 27), u(1.3, 1.6)
    return [_cap((0, 0, 0), (0, 0, length), r), _box(u(5, 6), 1.6, 1.6, (0, 0, length + 1.2))]


def _t_headphones(u):
    R = u(8, 9)
    pts = [(R * math.sin(a), 0, R * math.cos(a)) for a in np.linspace(-1.9, 1.9, 5)]
    parts = [_cap(pts[k], pts[k + 1], 1.0) for k in range(4)]
    for sx in (-1, 1):
        x, z = pts[0 if sx < 0 else -1][0], pts[0][2]
        parts.append(_cyl((x, 0, z), (x - sx * 2.5, 0, z), 3.2))
    return parts


def _t_knife(u):
    return [_cap((-11, 0, 0), (0, 0, 0), u(1.05, 1.15)), _box(6.5, 1.4, 0.4, (6.5, 0.4, 0))]


def _t_light_bulb(u):
    r = u(3, 3.3)
    return [_sphere(r, (0, 0, 6)), _ellipsoid(r * 0.7, r * 0.7, 2.5, (0, 0, 3.5)), _cyl((0, 0, 0), (0, 0, 2.5), 1.35)]


def _t_mouse(u):
    return [_ellipsoid(u(5.8, 6.2), 3.2, 2.0), _box(0.4, 0.3, 0.5, (3.5, 0, 1.9))]


def _t_mug(u):
    R, h = u(4, 4.4), u(9, 10)
    return [_cyl((0, 0, 0), (0, 0, h), R), _cap((R - 0.3, 0, h * 0.8), (R + 2.5, 0, h * 0.7), 0.6),
            _cap((R + 2.5, 0, h * 0.7), (R + 2.5, 0, h * 0.3), 0.6),
            _cap((R + 2.5, 0, h * 0.3), (R - 0.3, 0, h * 0.2), 0.6)]


def _t_piggy_bank(u):
    a = u(6, 7)
    parts = [_ellipsoid(a, a * 0.7, a * 0.65, (0, 0, 4.5)), _cyl((a - 0.5, 0, 5), (a + 1.2, 0, 5), 1.5),
             _box(0.4, 1.0, 1.0, (a * 0.6, a * 0.35, 8.5)), _box(0.4, 1.0, 1.0, (a * 0.6, -a * 0.35, 8.5))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_cyl((sx * a * 0.5, sy * a * 0.35, 0), (sx * a * 0.5, sy * a * 0.35, 2), 1.0))
    return parts


def _t_pyramid(u):
    s, h = u(3.5, 4), u(6, 7)
    return [_convex([(sx * s, sy * s, 0) for sx in (-1, 1) for sy in (-1, 1)] + [(0, 0, h)])]


def _t_scissors(u):
    parts = [_box(7, 0.6, 0.8, (4, 0, 0), _q("z", 8)), _box(7, 0.6, 0.8, (4, 0, 0), _q("z", -8))]
    for sy in (-1, 1):
        c = np.array([-4.5, sy * 2.6, 0.0])
        pts = [c + 2.2 * np.array([math.cos(a), math.sin(a), 0]) for a in np.linspace(0, 2 * math.pi, 4)[:3]]
        parts += [_cap(pts[k], pts[(k + 1) % 3], 0.6) for k in range(3)]
    return parts


def _t_stapler(u):
    length = u(15, 17)
    return [_box(length / 2, 2, 0.8), _box(length / 2 * 0.9, 1.7, 1.0, (0.3, 0, 2.6)),
            _box(1.5, 1.8, 1.5, (-length / 2 + 1.5, 0, 1.5))]


def _t_teapot(u):
    R = u(6, 7)
    return [_ellipsoid(R, R, R * 0.75, (0, 0, R * 0.75)), _cap((R * 0.8, 0, R * 0.6), (R + 4, 0, R * 1.4), 0.9),
            _cap((-R * 0.9, 0, R * 1.1), (-R - 2.5, 0, R * 1.0), 0.6),
            _cap((-R - 2.5, 0, R * 1.0), (-R - 2.5, 0, R * 0.5), 0.6),
            _cap((-R - 2.5, 0, R * 0.5), (-R * 0.9, 0, R * 0.4), 0.6), _sphere(1.0, (0, 0, R * 1.55))]


def _t_toothbrush(u):
    length = u(17.5, 18.5)
    return [_cap((0, 0, 0), (length, 0, 0), 0.85), _box(1.4, 0.6, 0.9, (length - 1, 0, 1.1))]


def _t_toothpaste(u):
    return [_box(u(7.5, 8.5), 2.5, 1.5), _cyl((-9.5, 0, 0), (-8, 0, 0), 1.5)]


def _t_torus(u):
    R, r = u(4.5, 5), u(1.4, 1.6)
    pts = [(R * math.cos(a), R * math.sin(a), 0) for a in np.linspace(0, 2 * math.pi, 9)[:8]]
    return [_cap(pts[k], pts[(k + 1) % 8], r) for k in range(8)]


def _t_train(u):
    a, b = u(7, 8), 2.5
    parts = [_box(a, b, 2, (0, 0, 3.2)), _box(2, b, 2, (-a + 2, 0, 6.7)), _cyl((a * 0.6, 0, 5), (a * 0.6, 0, 7), 0.8)]
    return _wheels(parts, a * 0.6, b, 1.2, 0.8)


def _t_water_bottle(u):
    r, h = u(3.3, 3.7), u(17, 19)
    return [_cyl((0, 0, 0), (0, 0, h), r), _cyl((0, 0, h), (0, 0, h + 2.5), r * 0.45),
            _cyl((0, 0, h + 2.5), (0, 0, h + 4), r * 0.55)]


def _t_wine_glass(u):
    r = u(3.8, 4.2)
    return [_cyl((0, 0, 0), (0, 0, 0.6), r * 0.9), _cap((0, 0, 0.6), (0, 0, 9), 0.5), _ellipsoid(r, r, 4.5, (0, 0, 13))]


def _t_alarm_clock(u):
    R = u(5, 5.5)
    return [_cyl((0, -2.5, 0), (0, 2.5, 0), R), _sphere(2, (-3.5, 0, R + 0.8)), _sphere(2, (3.5, 0, R + 0.8)),
            _cap((-3, 0, -R + 0.5), (-4, 0, -R - 1.5), 0.6), _cap((3, 0, -R + 0.5), (4, 0, -R - 1.5), 0.6)]


def _t_game_controller(u):
    return [_box(u(4, 4.5), 3, 2), _cap((-4, 1.5, 0), (-6, -4, 0), 2), _cap((4, 1.5, 0), (6, -4, 0), 2)]


def _t_sphere(u):
    return [_sphere(u(3.2, 3.8))]


TEST_TEMPLATES: dict[str, Callable] = {
    "apple": _t_apple, "banana": _t_banana, "binoculars": _t_binoculars, "bowl": _t_bowl, "camera": _t_camera,
    "cell_phone": _t_cell_phone, "cube": _t_cube, "cup": _t_cup, "door_knob": _t_door_knob,
    "flashlight": _t_flashlight, "flute": _t_flute, "hammer": _t_hammer, "headphones": _t_headphones,
    "knife": _t_knife, "light_bulb": _t_light_bulb, "mouse": _t_mouse, "mug": _t_mug,
    "piggy_bank": _t_piggy_bank, "pyramid": _t_pyramid, "scissors": _t_scissors, "stapler": _t_stapler,
    "teapot": _t_teapot, "toothbrush": _t_toothbrush, "toothpaste": _t_toothpaste, "torus": _t_torus,
    "train": _t_train, "water_bottle": _t_water_bottle, "wine_glass": _t_wine_glass,
    "alarm_clock": _t_alarm_clock, "game_controller": _t_game_controller, "sphere": _t_sphere,
}


def _test(rng) -> list[ObjectSpec]:
    t = PAPER_TABLE["test"]
    return [_finish(f"test_{name}", "test", build(rng.uniform), rng, 0.01 * rng.uniform(*t.scale))
            for name, build in TEST_TEMPLATES.items()]


# --- public API ------------------------------------------------------------------------------------
_BUILDERS: dict[str, Callable] = {
    "normal_cylinders": lambda rng: _cylinders("normal_cylinders", "cylinder", rng),
    "normal_cuboids": lambda rng: _cuboids("normal_cuboids", "cuboid", rng, (0.0, 1.0)),
    "long_cuboids": lambda rng: _cuboids("long_cuboids", "long_cuboid", rng, (0.0, 0.05)),
    "small_cylinders": lambda rng: _cylinders("small_cylinders", "small_cylinder", rng),
    "complex": _complex,
    "test": _test,
}
assert tuple(_BUILDERS) == SET_NAMES


def object_set(name: str, seed: int = 0) -> list[ObjectSpec]:
    """The objects of set ``name`` (one of ``SET_NAMES``); the same seed gives the same objects."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown object set '{name}'; valid: {list(SET_NAMES)}")
    rng = np.random.default_rng([seed, SET_NAMES.index(name)])
    return _BUILDERS[name](rng)


def add_object(spec: mujoco.MjSpec, obj: ObjectSpec, body_name: str = "object", pos=(0.0, 0.0, 0.0),
               quat=_IDENTITY, rgba=(0.85, 0.55, 0.2, 1.0)) -> mujoco.MjsBody:
    """Add ``obj`` to ``spec`` as a free-jointed body ``body_name`` (joint ``<body_name>_free``).

    The nominal mass is split over the geoms by volume (overlaps between parts are counted twice,
    a small error for these shapes).
    """
    body = spec.worldbody.add_body(name=body_name, pos=list(pos), quat=list(quat))
    body.add_freejoint(name=f"{body_name}_free")
    volumes = np.array([p.volume() for p in obj.parts])
    masses = obj.mass * volumes / volumes.sum()
    friction = [obj.friction, TORSIONAL_PATCH * obj.friction, ROLLING_FRICTION]
    for k, part in enumerate(obj.parts):
        common = dict(name=f"{body_name}_geom{k}", type=_GEOM_TYPE[part.type], mass=float(masses[k]),
                      friction=friction, condim=4, priority=1, rgba=list(rgba))
        if part.type == "mesh":
            mesh_name = f"{body_name}_mesh{k}"
            spec.add_mesh(name=mesh_name, uservert=np.ravel(part.vertices).tolist(),
                          userface=np.ravel(part.faces).astype(int).tolist())
            body.add_geom(meshname=mesh_name, **common)
        else:
            size = list(part.size) + [0.0] * (3 - len(part.size))
            body.add_geom(size=size, pos=list(part.pos), quat=list(part.quat), **common)
    return body


def load_mesh_object(path: str | Path, name: str | None = None, mass: float = 0.03, friction: float = 1.0,
                     scale: float = 1.0, threshold: float = 0.05, max_hulls: int = MAX_GEOMS,
                     seed: int = 0) -> ObjectSpec:
    """A user's OBJ/STL as an ObjectSpec of convex hulls (CoACD approximate convex decomposition).

    ``scale`` multiplies the file's coordinates (use 0.001 for millimetres); ``threshold`` is
    CoACD's concavity tolerance (smaller: more, tighter hulls), ``max_hulls`` caps the geom count.
    """
    import coacd

    coacd.set_log_level("error")
    mesh = trimesh.load(Path(path), force="mesh")
    vertices = np.asarray(mesh.vertices, dtype=float) * scale
    hulls = coacd.run_coacd(coacd.Mesh(vertices, np.asarray(mesh.faces)), threshold=threshold,
                            max_convex_hull=max_hulls, seed=seed)
    parts = [_convex(v) for v, _ in hulls]
    lo, hi = _bounds(parts)
    parts = tuple(p.transformed(1.0, -(lo + hi) / 2.0) for p in parts)
    return ObjectSpec(name or Path(path).stem, "mesh", parts, mass, friction, tuple(float(x) for x in (hi - lo) / 2.0))
