"""Initial grasps: sampled around the paper's canonical pose, kept only if they hold.

For one object model and a list of wrist orientations, candidates start with the fingers opened
around the object placed at the grasp centre, close on it without gravity for 0.5 s, then must
hold it for 1 s with gravity in the wrist's direction (the hand is fixed, so the wrist is
emulated by rotating gravity into the hand frame). Kept grasps are full physics states plus the
joint targets that hold them, cached on disk keyed by everything that shapes them.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
from mujoco import rollout
from scipy.spatial.transform import Rotation

from dexndm_learning import joint_order
from dexndm_learning.joint_order import FLEXION_JOINTS
from dexndm_learning.sim.axes import axis_set
from dexndm_learning.sim.hand_model import GRASP_CENTRE_IN_HAND, check_hand_version, joint_qpos_addr
from dexndm_learning.sim.wrist import gravity_in_hand, random_wrist_quats, to_wxyz, wrist_quat, wrist_rotation

STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS


@dataclass
class GraspConfig:
    candidates: int = 128
    pose_noise: float = 0.05          # rad, around the canonical pose
    open_by: float = 0.25             # rad the flexion joints start more open than the target
    squeeze: tuple[float, float] = (0.15, 0.45)  # rad past the pose on the flexion joints
    close_time: float = 0.5
    # Held 5 s with at most 1 cm of slip (the grasp issue asked for at least 1 s): with 1 s and
    # 1.5 cm, 18 % of the training start states dropped within 20 s with the hand holding still
    # (under training randomization; median at 8 s), 8 % with 5 s and 1 cm, which caps a
    # specialist's time to fall well below the 0.9 asked of it.
    hold_time: float = 5.0
    max_slip: float = 0.01            # m the object may move while held
    max_offset: float = 0.04          # m from the grasp centre
    # Where start grasps put the object, relative to the canonical grasp centre (m, hand frame H:
    # -x toward the heel of the palm, -z toward its face). (-0.02, 0, -0.03) starts it resting in
    # the palm, palm up, as the references that learn +z do.
    centre_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # How the object is turned at the start: "random" (uniform over all orientations), "upright"
    # (its local z, a cylinder's axis, pointing up against gravity at the grasp's wrist; random
    # about that axis), as Hora starts its cylinders, or "axis": its local z along ``object_axis``
    # (a world direction, e.g. the rotation axis, so that a cylinder rolls about its own axis),
    # random about it. "upright" is "axis" with (0, 0, 1).
    object_orientation: str = "random"
    object_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __post_init__(self):
        if self.object_orientation not in OBJECT_ORIENTATIONS:
            raise ValueError(f"grasp.object_orientation: unknown '{self.object_orientation}'; "
                             f"valid: {list(OBJECT_ORIENTATIONS)}")
        if not np.linalg.norm(self.object_axis) > 1e-9 or not np.all(np.isfinite(self.object_axis)):
            raise ValueError(f"grasp.object_axis: {self.object_axis} is not a direction")
        if self.object_orientation != "axis" and tuple(self.object_axis) != (0.0, 0.0, 1.0):
            raise ValueError(f"grasp.object_axis is used only with object_orientation: axis "
                             f"(got object_orientation: {self.object_orientation})")


OBJECT_ORIENTATIONS = ("random", "upright", "axis")
ALONG_ROTATION_AXIS = "rotation-axis"    # a run's start, not a GraspConfig value: objects along its axis set's line


def rotation_axis_line(axes: str) -> tuple[float, float, float]:
    """The line of an axis set with one ("x", "+x" and "-x": (1, 0, 0)), for starting objects
    along it; a set of several lines (xyz, general) has no one start."""
    dirs = axis_set(axes)
    if not np.allclose(np.abs(dirs @ dirs[0]), 1.0):
        raise ValueError(f"start {ALONG_ROTATION_AXIS}: axis set '{axes}' has more than one "
                         "axis line; give x, y, z or single directions")
    return tuple(float(v) for v in np.abs(dirs[0]))


def start_grasp(candidates: int, orientation: str, offset, axes: str) -> GraspConfig:
    """Start grasps for a run of one axis set: ``candidates`` per object, objects ``random``,
    ``upright`` or along the set's one line (``rotation-axis``), centred ``offset`` (m, hand frame)
    from the canonical grasp centre."""
    if orientation == ALONG_ROTATION_AXIS:
        lie = {"object_orientation": "axis", "object_axis": rotation_axis_line(axes)}
    elif orientation in ("random", "upright"):
        lie = {"object_orientation": orientation}
    else:
        raise ValueError(f"start_orientation: '{orientation}' is not one of random, upright, {ALONG_ROTATION_AXIS}")
    if len(offset) != 3:
        raise ValueError(f"start_offset: three numbers (m, hand frame), got {list(offset)}")
    return GraspConfig(candidates=candidates, centre_offset=tuple(float(v) for v in offset), **lie)


def start_suffix(grasp: GraspConfig) -> str:
    """How the start grasps differ from the paper's (random orientation at the canonical grasp
    centre), as a suffix for tables and titles; empty where they do not."""
    parts = [grasp.object_orientation] if grasp.object_orientation != "random" else []
    if grasp.object_orientation == "axis":
        parts[-1] = "along " + "/".join(f"{v:g}" for v in grasp.object_axis)
    if any(grasp.centre_offset):
        parts.append("centre " + "/".join(f"{100 * v:+g}" for v in grasp.centre_offset) + " cm")
    return f", start {', '.join(parts)}" if parts else ""


@dataclass
class GraspSet:
    states: np.ndarray    # (M, nstate) full physics states
    targets: np.ndarray   # (M, 16) joint targets holding the grasp
    wrists: np.ndarray    # (M, 4) wrist quaternion (w, x, y, z) each grasp was made for

    def __len__(self) -> int:
        return len(self.targets)


def cache_dir() -> Path:
    return Path(os.environ.get("DEXNDM_CACHE", Path.home() / ".cache" / "dexndm")) / "grasps"


def generate(model: mujoco.MjModel, object_centre, wrists: np.ndarray, cfg: GraspConfig,
             rng: np.random.Generator, nthread: int = 2) -> GraspSet:
    """Sample ``cfg.candidates`` grasps per wrist quaternion in ``wrists`` (K, 4); keep those that hold."""
    qadr = joint_qpos_addr(model)
    obj_adr = model.jnt_qposadr[model.body("object").jntadr[0]]
    n = cfg.candidates * len(wrists)
    wrist_of = np.repeat(wrists, cfg.candidates, axis=0)
    pose = joint_order.clip_to_limits(joint_order.CANONICAL_GRASP + rng.normal(0, cfg.pose_noise, (n, 16)))
    targets = joint_order.clip_to_limits(pose + rng.uniform(*cfg.squeeze, (n, 1)) * FLEXION_JOINTS)
    start = joint_order.clip_to_limits(pose - cfg.open_by * FLEXION_JOINTS)
    quats = start_orientations(wrist_of, cfg.object_orientation, rng, cfg.object_axis)

    data = mujoco.MjData(model)
    nstate = mujoco.mj_stateSize(model, STATE_SPEC)
    x0 = np.empty((n, nstate))
    for i in range(n):
        mujoco.mj_resetData(model, data)
        data.qpos[qadr] = start[i]
        data.qpos[obj_adr:obj_adr + 3] = object_centre
        data.qpos[obj_adr + 3:obj_adr + 7] = quats[i]
        mujoco.mj_getState(model, data, x0[i], STATE_SPEC)

    models = [copy.copy(model) for _ in range(n)]
    for m in models:
        m.opt.gravity[:] = 0.0
    datas = [mujoco.MjData(model) for _ in range(nthread)]
    dt = model.opt.timestep
    ctrl = targets[:, None, :]
    with rollout.Rollout(nthread=nthread) as r:
        closed, _ = r.rollout(models, datas, x0, ctrl, nstep=int(cfg.close_time / dt))
        x1 = closed[:, -1]
        for m, w in zip(models, wrist_of):
            m.opt.gravity[:] = gravity_in_hand(w)
        held, _ = r.rollout(models, datas, x1, ctrl, nstep=int(cfg.hold_time / dt))
    x2 = held[:, -1]
    # state layout: [time, qpos, qvel, ...]
    p1 = x1[:, 1 + obj_adr:1 + obj_adr + 3]
    p2 = x2[:, 1 + obj_adr:1 + obj_adr + 3]
    ok = (np.all(np.isfinite(x2), axis=1)
          & (np.linalg.norm(p2 - p1, axis=1) < cfg.max_slip)
          & (np.linalg.norm(p2 - object_centre, axis=1) < cfg.max_offset))
    x2 = x2[ok].copy()
    x2[:, 0] = 0.0   # time
    return GraspSet(states=x2, targets=targets[ok], wrists=wrist_of[ok])


def start_orientations(wrists: np.ndarray, kind: str, rng: np.random.Generator,
                       axis=(0.0, 0.0, 1.0)) -> np.ndarray:
    """(n, 4) wxyz object orientations in the hand frame, one per wrist quaternion in ``wrists``;
    ``axis``: the world direction of the object's local z for ``kind`` "axis"."""
    n = len(wrists)
    if kind == "random":
        return np.array([q / np.linalg.norm(q) for q in rng.normal(size=(n, 4))])
    yaw = Rotation.from_rotvec(np.outer(rng.uniform(0.0, 2 * np.pi, n), [0.0, 0.0, 1.0]))
    if kind == "upright":
        up = np.array([-gravity_in_hand(w) for w in wrists])
    else:
        up = np.array([wrist_rotation(w).inv().apply(axis) for w in wrists])
    tilt = Rotation.from_rotvec(_rotvec_from_z(up / np.linalg.norm(up, axis=1, keepdims=True)))
    return np.stack([to_wxyz(r) for r in tilt * yaw])


def _rotvec_from_z(u: np.ndarray) -> np.ndarray:
    """Rotation vectors of the shortest rotations taking +z to each unit vector in ``u`` (n, 3)."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, u)
    s = np.linalg.norm(axis, axis=1)
    angle = np.arctan2(s, u @ z)
    axis = np.where(s[:, None] > 1e-9, axis / np.maximum(s, 1e-12)[:, None], [1.0, 0.0, 0.0])
    return axis * angle[:, None]


def grasps_for(model: mujoco.MjModel, hand_cfg, obj, object_index: int, wrist, cfg: GraspConfig,
               random_pool: int = 24, nthread: int = 2) -> GraspSet:
    """The (cached) grasps of object ``obj`` (compiled into ``model`` at the grasp centre) for one
    wrist entry: a named wrist, a (w, x, y, z) quaternion, or ``"random"`` (``random_pool``
    uniformly random wrists). The training environment and the simulated hand node share it, so
    a grasp set made by one is reused by the other."""
    if isinstance(wrist, str) and wrist == "random":
        name, quats = "random", random_wrist_quats(random_pool, np.random.default_rng(object_index))
    else:
        name, quats = (wrist if isinstance(wrist, str) else "quat"), wrist_quat(wrist)[None]
    centre = np.add(hand_cfg.mount_pos, GRASP_CENTRE_IN_HAND) + cfg.centre_offset
    key = ["grasps-v3", repr(obj), repr(hand_cfg), model_fingerprint(model), _key_repr(cfg), name, quats.round(6).tolist()]
    what = f"{obj.name}, wrist {name} ({len(quats)} x {cfg.candidates} candidates)"
    return cached(key, lambda: generate(model, centre, quats, cfg, np.random.default_rng(object_index), nthread), what,
                  hand_cfg.version)


# Fields added after grasp sets were first cached, each with a test for its default value.
_ADDED_LATER = {"centre_offset": lambda v: not any(v), "object_orientation": lambda v: v == "random",
                "object_axis": lambda v: tuple(v) == (0.0, 0.0, 1.0)}


def _key_repr(cfg: GraspConfig) -> str:
    """``repr(cfg)`` without the fields added after grasp sets were first cached, where they have
    their default, so those sets stay valid."""
    kept = (f for f in dataclasses.fields(cfg)
            if f.name not in _ADDED_LATER or not _ADDED_LATER[f.name](getattr(cfg, f.name)))
    return f"{type(cfg).__name__}({', '.join(f'{f.name}={getattr(cfg, f.name)!r}' for f in kept)})"


def model_fingerprint(model: mujoco.MjModel) -> str:
    """A digest of what shapes a grasp besides the configs: geometry, inertia and solver options,
    so that editing the hand's shapes (not only its config) makes new grasps."""
    h = hashlib.sha256()
    for arr in (model.geom_type, model.geom_size, model.geom_pos, model.geom_quat, model.geom_friction,
                model.body_mass, model.body_ipos, model.body_iquat, model.body_inertia, model.body_pos,
                model.body_quat, model.jnt_range, model.actuator_gainprm, model.actuator_biasprm):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(repr((model.opt.timestep, model.opt.iterations, model.opt.noslip_iterations, int(model.opt.integrator),
                   int(model.opt.cone), model.opt.impratio)).encode())
    return h.hexdigest()[:16]


def cached(key_parts: list, make, what: str = "grasps", hand_version: str = "v1") -> GraspSet:
    """Load the grasp set identified by ``key_parts`` from disk, or ``make()`` and store it
    (saying so on stderr: a first run under new conditions simulates for minutes before training).
    The file records the hand version it was simulated on; one made on another is refused."""
    key = hashlib.sha256(repr(key_parts).encode()).hexdigest()[:20]
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        with np.load(path) as z:
            made_on = str(z["hand_version"]) if "hand_version" in z else None
            check_hand_version(made_on, hand_version, f"grasp cache {path}")
            return GraspSet(states=z["states"], targets=z["targets"], wrists=z["wrists"])
    print(f"start grasps: simulating {what} (not cached yet)", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    grasps = make()
    print(f"start grasps: {len(grasps)} kept for {what} in {time.monotonic() - t0:.0f} s -> {path}",
          file=sys.stderr, flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, states=grasps.states, targets=grasps.targets, wrists=grasps.wrists, hand_version=hand_version)
    os.replace(tmp, path)
    return grasps
