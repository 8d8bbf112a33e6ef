"""Chaos Box scenes (method.md section 8): random, stochastic loads on the hand for data collection.

``box``: the hand, mounted at a real wrist orientation (the mount is rotated, gravity is not),
buried in an open box (floor and four walls) of light soft balls. The box is sized around the
hand's bounding box at the start pose (6 cm, about one ball, beside it and 5 cm below it); balls
start on a jittered grid filling the box from the floor up wherever they clear the hand (so also
between the fingers and under the palm), then settle around and onto the hand while it holds
the start pose. By default there are enough of them (about 130) to cover the hand's top.

``strapped``: the palm-up set-up, where the box cannot be reached: one soft ball held against the
thumb, index and middle fingertips by three elastic straps (spatial tendons from the ball's
centre to each fingertip site; a spring that only pulls beyond the rest length, and a hard limit
1.5 cm beyond it, like an elastic bandage).

Balls: radius U(2.2, 3) cm, mass U(5, 10) g, soft contacts (``solref`` time constant 40 ms,
``solimp`` 0.7-0.95 over 5 mm) with ``priority`` 1 so ball contacts use them. The hand keeps its
own physics; only the scene around it differs from the training simulation.

``ChaosBoxSim`` replays 20 Hz target sequences open-loop on any scene containing the hand,
through a reality profile (static parameters, command latency/backlash, sensor noise), and
records measured joint positions and targets per control step, like the real collection runs.

Solver: Chaos Box scenes use PGS. With ~130 balls coupled through contacts, Newton's
factorization dominates (4.2 ms of 4.4 ms per step); PGS takes ~1.4 ms per step and tracks the
free hand identically (mean tracking error equal to 1e-11 rad on a replayed sequence).

Speed (MuJoCo 4.0, one core of the shared 2-core machine, dt 1/120 s, 6 steps per control
step): box scenes with 130 balls 400-580 physics steps/s while settling or replaying (palm down
~550, base up/down ~400; Newton: 170-230), i.e. 65-95 control steps/s, 4-6 s per 400-step
trajectory; the strapped scene ~25,000 steps/s.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.sim.hand_model import FINGERTIP_BODIES, HandConfig, hand_spec, joint_qpos_addr
from dexndm_learning.sim.reality import (CommandFilter, RealityProfile, SensorModel, apply_profile,
                                         capture_nominal)
from dexndm_learning.sim.wrist import wrist_rotation

VARIANTS = ("box", "strapped")
BALL_RADIUS = (0.022, 0.030)       # m
BALL_MASS = (0.005, 0.010)         # kg
BALL_SOLREF = (0.04, 1.0)
BALL_SOLIMP = (0.7, 0.95, 0.005, 0.5, 2.0)
BALL_FRICTION = 0.6
PACKING = 0.55                     # random loose packing of the balls
BOX_MARGIN = 0.06                  # box wall to hand bounding box (m): about one ball
FLOOR_GAP = 0.05                   # floor to hand bounding box (m)
WALL = 0.01                        # wall half thickness (m)
STRAPPED_TIPS = ("th_ds", "if_ds", "mf_ds")
STRAP_BALL_RADIUS = 0.032
STRAP_BALL_MASS = 0.03
STRAP_STIFFNESS = 30.0             # N/m
STRAP_SLACK = 0.015                # hard limit beyond the rest length (m)


def _posed_hand(cfg: HandConfig, wrist, q0) -> tuple[mujoco.MjModel, mujoco.MjData]:
    model = hand_spec(cfg, wrist).compile()
    data = mujoco.MjData(model)
    data.qpos[joint_qpos_addr(model)] = q0
    mujoco.mj_kinematics(model, data)
    return model, data


def hand_bounds(cfg: HandConfig, wrist, q0) -> tuple[np.ndarray, np.ndarray]:
    """World axis-aligned bounding box of the hand's collision geoms at pose ``q0``."""
    model, data = _posed_hand(cfg, wrist, q0)
    return _bounds(model, data)


def _bounds(model, data) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = [], []
    for g in range(model.ngeom):
        rot = data.geom_xmat[g].reshape(3, 3)
        centre = data.geom_xpos[g] + rot @ model.geom_aabb[g, :3]
        half = np.abs(rot) @ model.geom_aabb[g, 3:]
        lo.append(centre - half)
        hi.append(centre + half)
    return np.min(lo, axis=0), np.max(hi, axis=0)


def _distance_to_hand(model, data, points: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest hand geom (boxes, capsules; an ellipsoid counts as
    the sphere of its largest radius, which can only underestimate the distance)."""
    dist = np.full(len(points), np.inf)
    for g in range(model.ngeom):
        local = (points - data.geom_xpos[g]) @ data.geom_xmat[g].reshape(3, 3)
        size = model.geom_size[g]
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
            d = np.linalg.norm(np.maximum(np.abs(local) - size, 0.0), axis=1)
        elif model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE:
            axial = np.clip(local[:, 2], -size[1], size[1])
            d = np.linalg.norm(local - np.outer(axial, [0, 0, 1]), axis=1) - size[0]
        elif model.geom_type[g] == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
            d = np.linalg.norm(local, axis=1) - size.max()
        else:
            raise ValueError(f"hand geom type {model.geom_type[g]} not handled")
        dist = np.minimum(dist, d)
    return dist


def _add_box(spec: mujoco.MjSpec, lo: np.ndarray, hi: np.ndarray, height: float) -> None:
    """Floor (top face at lo[2]) and four walls around the xy rectangle [lo, hi]."""
    cx, cy = (lo[:2] + hi[:2]) / 2
    hx, hy = (hi[:2] - lo[:2]) / 2
    wz = lo[2] + height / 2
    rgba = [0.55, 0.45, 0.35, 0.3]
    for name, pos, size in (
            ("box_floor", (cx, cy, lo[2] - WALL), (hx + 2 * WALL, hy + 2 * WALL, WALL)),
            ("box_wall_px", (hi[0] + WALL, cy, wz), (WALL, hy + 2 * WALL, height / 2)),
            ("box_wall_nx", (lo[0] - WALL, cy, wz), (WALL, hy + 2 * WALL, height / 2)),
            ("box_wall_py", (cx, hi[1] + WALL, wz), (hx, WALL, height / 2)),
            ("box_wall_ny", (cx, lo[1] - WALL, wz), (hx, WALL, height / 2))):
        spec.worldbody.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, pos=list(pos), size=list(size),
                                friction=[BALL_FRICTION, 0.005, 0.0001], rgba=rgba)


def _add_ball(spec, name, pos, radius, mass, rgba) -> mujoco.MjsBody:
    body = spec.worldbody.add_body(name=name, pos=list(pos))
    body.add_freejoint(name=f"{name}_free")
    body.add_geom(name=f"{name}_geom", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[radius, 0, 0], mass=mass,
                  friction=[BALL_FRICTION, 0.005, 0.0001], solref=list(BALL_SOLREF), solimp=list(BALL_SOLIMP),
                  priority=1, condim=3, rgba=list(rgba))
    return body


def _box_interior(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([lo[0] - BOX_MARGIN, lo[1] - BOX_MARGIN, lo[2] - FLOOR_GAP]),
            np.array([hi[0] + BOX_MARGIN, hi[1] + BOX_MARGIN, hi[2]]))


def default_ball_count(cfg: HandConfig, wrist, q0=joint_order.CANONICAL_GRASP) -> int:
    """Balls that fill the box to about one ball above the hand's top (at least 100).

    Loose random packing of the box volume; the hand's own volume (a few percent) is ignored.
    """
    inner_lo, inner_hi = _box_interior(*hand_bounds(cfg, wrist, q0))
    mean_r = float(np.mean(BALL_RADIUS))
    volume = np.prod(inner_hi[:2] - inner_lo[:2]) * (inner_hi[2] - inner_lo[2] + 2 * mean_r)
    return max(100, int(np.ceil(PACKING * volume / (4 / 3 * np.pi * mean_r ** 3))))


def _ball_spots(model, data, inner_lo, inner_hi, n_balls) -> np.ndarray:
    """Start positions: a grid filling the box from the floor up, clear of the hand."""
    r_max = BALL_RADIUS[1]
    spacing = 2 * r_max + 0.004
    xs = np.arange(inner_lo[0] + r_max, inner_hi[0] - r_max + 1e-9, spacing)
    ys = np.arange(inner_lo[1] + r_max, inner_hi[1] - r_max + 1e-9, spacing)
    spots = np.zeros((0, 3))
    z = inner_lo[2] + r_max
    while len(spots) < n_balls:
        layer = np.array([(x, y, z) for x in xs for y in ys])
        spots = np.vstack([spots, layer[_distance_to_hand(model, data, layer) > r_max + 0.002]])
        z += spacing
    return spots[:n_balls]


def _box_scene(spec, cfg, wrist, q0, n_balls, rng) -> None:
    model, data = _posed_hand(cfg, wrist, q0)
    inner_lo, inner_hi = _box_interior(*_bounds(model, data))
    spots = _ball_spots(model, data, inner_lo, inner_hi, n_balls)
    height = max(spots[:, 2].max(), inner_hi[2]) - inner_lo[2] + 0.1
    _add_box(spec, inner_lo, inner_hi, height)
    jitter = rng.uniform(-0.002, 0.002, size=spots.shape)
    for k, p in enumerate(spots + jitter):
        rgba = np.append(rng.uniform(0.2, 1.0, 3), 1.0)
        _add_ball(spec, f"ball_{k:03d}", p, rng.uniform(*BALL_RADIUS), rng.uniform(*BALL_MASS), rgba)


def _strapped_scene(spec, cfg, wrist, q0) -> None:
    _, data = _posed_hand(cfg, wrist, q0)
    tips = np.array([data.site(f"{b}_tip").xpos for b in FINGERTIP_BODIES])
    mean = tips.mean(axis=0)
    # Move from the tips' centroid toward the palm until the tips' RMS distance is radius + 5 mm.
    spread = np.mean(np.sum((tips - mean) ** 2, axis=1))
    depth = np.sqrt(max(0.0, (STRAP_BALL_RADIUS + 0.005) ** 2 - spread))
    palm_normal = wrist_rotation(wrist).apply([0.0, 0.0, 1.0])
    centre = mean - depth * palm_normal
    ball = _add_ball(spec, "strap_ball", centre, STRAP_BALL_RADIUS, STRAP_BALL_MASS, (0.9, 0.8, 0.1, 1.0))
    ball.add_site(name="strap_ball_centre", size=[0.002, 0, 0])
    for body in STRAPPED_TIPS:
        rest = float(np.linalg.norm(data.site(f"{body}_tip").xpos - centre))
        rest = max(rest, STRAP_BALL_RADIUS)
        tendon = spec.add_tendon(name=f"strap_{body}", limited=mujoco.mjtLimited.mjLIMITED_TRUE,
                                 range=[0.0, rest + STRAP_SLACK], stiffness=STRAP_STIFFNESS,
                                 springlength=[0.0, STRAP_BALL_RADIUS], damping=0.5, width=0.002)
        tendon.wrap_site("strap_ball_centre")
        tendon.wrap_site(f"{body}_tip")


def chaos_box_spec(hand_cfg: HandConfig | None, wrist, variant: str = "box", n_balls: int | None = None,
                   seed: int = 0, q0=joint_order.CANONICAL_GRASP) -> mujoco.MjSpec:
    """The hand at ``wrist`` (name or wxyz) posed for ``q0``, in a ball box or with a strapped ball."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown Chaos Box variant '{variant}'; valid: {list(VARIANTS)}")
    cfg = hand_cfg or HandConfig.load()
    spec = hand_spec(cfg, wrist)
    spec.modelname = f"chaos_{variant}"
    spec.option.solver = mujoco.mjtSolver.mjSOL_PGS   # see the module docstring
    if variant == "box":
        n = default_ball_count(cfg, wrist, q0) if n_balls is None else n_balls
        _box_scene(spec, cfg, wrist, q0, n, np.random.default_rng(seed))
    else:
        _strapped_scene(spec, cfg, wrist, q0)
    return spec


@dataclass
class Replay:
    """One replayed trajectory: ``q[t+1]`` was measured after ``targets[t]`` ran one control step."""

    q: np.ndarray          # (T+1, 16) measured joint positions (sensor model applied)
    targets: np.ndarray    # (T, 16) commanded targets (what a dataset stores as actions)
    applied: np.ndarray    # (T, 16) targets the motors acted on (after latency and backlash)
    q_true: np.ndarray     # (T+1, 16) true joint positions


class ChaosBoxSim:
    """Open-loop replay of 20 Hz joint targets on a scene with the hand, under a reality profile."""

    def __init__(self, spec: mujoco.MjSpec, hand_cfg: HandConfig | None = None,
                 profile: RealityProfile | None = None, q0=joint_order.CANONICAL_GRASP, settle_steps: int = 40):
        self.cfg = hand_cfg or HandConfig.load()
        self.profile = profile or RealityProfile()
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.nominal = capture_nominal(self.model)
        apply_profile(self.model, self.profile, self.nominal, scratch=self.data)
        self.command = CommandFilter.from_profile(self.profile, 1)
        self.sensor = SensorModel.from_profile(self.profile)
        self._qadr = joint_qpos_addr(self.model)
        self._acts = self.nominal.actuators
        names = [self.model.body(b).name for b in range(self.model.nbody)]
        self.ball_ids = np.array([b for b, name in enumerate(names) if name.startswith("ball_")], int)
        q0 = joint_order.validate_targets(q0)
        self.data.qpos[self._qadr] = q0
        self.data.ctrl[self._acts] = q0
        self.command.reset(q0)
        mujoco.mj_forward(self.model, self.data)
        self.hold(q0, settle_steps)

    def _control_step(self, target: np.ndarray) -> np.ndarray:
        applied = self.command.step(target[None])[0]
        self.data.ctrl[self._acts] = applied
        mujoco.mj_step(self.model, self.data, nstep=self.cfg.substeps)
        return applied

    def hold(self, q, steps: int) -> None:
        """Command ``q`` for ``steps`` control steps without recording (lead-in, settling)."""
        q = np.asarray(q, dtype=float)
        for _ in range(steps):
            self._control_step(q)

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._qadr].copy()

    def replay(self, targets) -> Replay:
        """Run ``targets`` (T, 16), one per control step, and record the hand's response."""
        targets = np.asarray(targets, dtype=float)
        if targets.ndim != 2 or targets.shape[1] != joint_order.NUM_JOINTS:
            raise ValueError(f"targets must be (T, 16), got {targets.shape}")
        q_true = [self.joint_positions()]
        applied = []
        for target in targets:
            applied.append(self._control_step(target))
            q_true.append(self.joint_positions())
        q_true = np.array(q_true)
        return Replay(self.sensor.measure(q_true), targets.copy(), np.array(applied), q_true)

    def ball_positions(self) -> np.ndarray:
        return self.data.xpos[self.ball_ids].copy()
