"""System identification of the hand from recorded probing steps (method.md section 10).

The recorded (measured q, commanded target) steps of probing trajectories on the free hand
(``ndm.steps.Steps``, one segment per trajectory, e.g. from bags) are replayed open loop in many
copies of the nominal sim, each under a candidate ``RealityProfile`` applied by
``reality.apply_profile`` (the code that makes every simulated world), starting from each
segment's first measured position at rest. Candidates are scored per joint by the mean absolute
difference between the simulated and the measured positions over every step. A joint's error
counts only the segments where its target moves (by more than ``DRIVEN_RANGE``), if any: with one
joint driven at a time, the others' segments hold only sensor noise for it and would drown its
signal. The result is a reality profile: the identified nominal sim, usable by every command that
takes ``--profile``.

The search is a per-joint cross-entropy method: a log-normal over the joint's parameters with a
full covariance, the elites chosen per joint on that joint's own error (joints couple only weakly
through the links, so one population serves all 16). Each joint's error valley is long and
narrow and curved: P and D scaled together change the motion little (a light or overdamped joint
settles within one 20 Hz period and shows mostly their ratio). A search with one spread per
parameter shrank across the valley before it had walked along it and ended 20-35 % off on a few
joints; so after the search, each joint is searched on a grid along the valley's local direction
(the principal axis of its search covariance), then polished, twice (docs/results.md).

Fitted by default: ``kp_scale`` and ``kd_scale`` per joint. ``params`` may add
``frictionloss_scale``, ``torque_limit``, ``damping_scale`` and ``armature_scale``, each with a
near-degeneracy to know of: scaling P, D, the torque limit and friction together is the same
motion as dividing the link inertia by that factor (only gravity tells them apart), so with the
torque limit or the friction free the gains drift together (seen: +45 % P with +60 % D on a thumb
joint); joint damping is the same velocity term as the D gain except while the torque limit
clips the actuator. Backlash, link masses and the sensor model are not fitted. The command
latency is chosen first, among ``latencies``, as the one under which the nominal sim tracks the
recording best: a one-step delay left out of the model is traded for lower P and higher D gains
on every joint.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import mujoco
import numpy as np
from tqdm import tqdm

from dexndm_learning.joint_order import NUM_JOINTS
from dexndm_learning.ndm.steps import Steps
from dexndm_learning.sim.batch_stepper import STATE_SPEC, ThreadedStepper
from dexndm_learning.sim.hand_model import HandConfig, hand_spec, joint_qpos_addr
from dexndm_learning.sim.reality import CommandFilter, RealityProfile, apply_profile, capture_nominal

DRIVEN_RANGE = 0.02     # rad of target range over a segment for it to count for that joint
ARENA_BYTES = 1 << 18   # per sim copy: a free hand uses ~13 kB (MuJoCo's default is 14 MB)
FITTABLE = ("kp_scale", "kd_scale", "frictionloss_scale", "torque_limit", "damping_scale", "armature_scale")


@dataclass
class SysIdConfig:
    params: list[str] = field(default_factory=lambda: ["kp_scale", "kd_scale"])
    population: int = 32            # candidates per iteration (the current mean is one of them)
    elites: int = 6
    iterations: int = 16
    init_std: float = 0.4           # of log(parameter / nominal)
    min_std: float = 0.01
    smoothing: float = 0.8          # weight of the elites' statistics in the update
    bounds: tuple[float, float] = (0.2, 5.0)   # x nominal
    latencies: list[int] = field(default_factory=lambda: [0, 1, 2])   # control steps; chosen first
    valley_rounds: int = 2          # line searches along each joint's error valley after the search
    valley_points: int = 17         # grid points per line search
    valley_range: float = 2.0       # the grid spans / and x this factor (largest parameter)
    polish_iterations: int = 4      # search iterations after each line search
    wrist: str = "palm_up"
    nthread: int = 2
    seed: int = 0


@dataclass
class SysIdResult:
    profile: RealityProfile               # the identified world
    error: np.ndarray                     # (16,) mean |q_sim - q_measured| (rad) of the identified world
    nominal_error: np.ndarray             # (16,) the same for the nominal sim
    history: list[float]                  # mean error of the population mean per iteration


def _segments(steps: Steps) -> list[tuple[np.ndarray, np.ndarray]]:
    """(q, a) per contiguous segment of at least two steps."""
    starts = np.flatnonzero(np.r_[True, steps.segment[1:] != steps.segment[:-1]])
    ends = np.r_[starts[1:], len(steps)]
    return [(steps.q[s:e], steps.a[s:e]) for s, e in zip(starts, ends) if e - s >= 2]


class Segments:
    """Recorded free-hand segments padded to one length (with their last step) and the hand model
    that replays them, each segment starting at rest at its first measured position."""

    def __init__(self, steps: Steps, wrist: str, hand_cfg: HandConfig, what: str):
        spec = hand_spec(hand_cfg, wrist)
        spec.memory = ARENA_BYTES
        self.model = spec.compile()
        self.qadr = joint_qpos_addr(self.model)
        segments = _segments(steps)
        if not segments:
            raise ValueError(f"{what} needs at least one recorded segment of 2 or more steps")
        self.k = len(segments)
        self.length = max(len(q) for q, _ in segments)
        self.q = np.zeros((self.k, self.length, NUM_JOINTS))
        self.a = np.zeros((self.k, self.length, NUM_JOINTS))
        self.recorded = np.zeros((self.k, self.length), bool)       # steps that were measured
        for i, (q, a) in enumerate(segments):
            n = len(q)
            self.q[i, :n], self.a[i, :n], self.recorded[i, :n] = q, a, True
            self.q[i, n:], self.a[i, n:] = q[-1], a[-1]
        self.start = np.zeros((self.k, mujoco.mj_stateSize(self.model, STATE_SPEC)))
        d = mujoco.MjData(self.model)
        for i in range(self.k):
            mujoco.mj_resetData(self.model, d)
            d.qpos[self.qadr] = self.q[i, 0]
            mujoco.mj_getState(self.model, d, self.start[i], STATE_SPEC)


class Replayer:
    """Replays recorded segments under many candidate profiles at once (``ThreadedStepper``)."""

    def __init__(self, steps: Steps, cfg: SysIdConfig, hand_cfg: HandConfig | None = None):
        self.cfg = cfg
        self.hand_cfg = hand_cfg or HandConfig.load()
        seg = Segments(steps, cfg.wrist, self.hand_cfg, "system identification")
        self.base, self.qadr, self.k, self.length = seg.model, seg.qadr, seg.k, seg.length
        self.q, self.a, self.start = seg.q, seg.a, seg.start
        self.mask = seg.recorded.copy()
        self.mask[:, 0] = False                      # the start is given, not simulated
        self.nominal = capture_nominal(self.base)
        # (segment, joint) pairs that count: the joint's target moves in the segment, or it never does
        driven = np.ptp(np.where(self.mask[..., None], self.a, self.a[:, :1]), axis=1) > DRIVEN_RANGE
        self.weight = np.where(driven.any(0), driven, True).astype(float)                 # (k, 16)
        self._scratch = mujoco.MjData(self.base)

    def errors(self, profiles: list[RealityProfile]) -> np.ndarray:
        """(len(profiles), 16) mean absolute position error of each profile over every segment."""
        k, c = self.k, len(profiles)
        models = []
        for p in profiles:
            m = copy.copy(self.base)
            apply_profile(m, p, self.nominal, self._scratch)
            models += [m] * k
        stepper = ThreadedStepper(models, self.cfg.nthread, self.hand_cfg.substeps, 0)
        n = c * k
        state = np.tile(self.start, (c, 1))
        sens = np.zeros((n, self.base.nsensordata))
        for i in range(n):
            stepper.set_state(i, state[i], self.a[i % k, 0])
        filters = [CommandFilter.from_profile(p, k) for p in profiles]
        for f in filters:
            f.reset(self.a[:, 0], np.arange(k))
        err = np.zeros((c, k, NUM_JOINTS))
        force = np.zeros((n, 3))
        for t in range(1, self.length):
            ctrl = np.concatenate([f.step(self.a[:, t - 1]) for f in filters])
            stepper.step(ctrl, force, state, sens)
            q = state[:, 1 + self.qadr].reshape(c, k, NUM_JOINTS)
            err += np.abs(q - self.q[None, :, t]) * self.mask[None, :, t, None]
        stepper.close()
        counted = (self.mask.sum(1)[:, None] * self.weight).sum(0)                       # (16,) steps
        return (err * self.weight).sum(1) / counted


def _profile(base: RealityProfile, params: list[str], log_scale: np.ndarray, nominal_torque: np.ndarray) -> RealityProfile:
    values = {}
    for name, x in zip(params, log_scale):
        v = np.exp(x)
        values[name] = [round(float(s), 5) for s in (v * nominal_torque if name == "torque_limit" else v)]
    return dataclasses.replace(base, **values)


def identify(steps: Steps, cfg: SysIdConfig = SysIdConfig(), hand_cfg: HandConfig | None = None,
             progress: bool = True) -> SysIdResult:
    """The profile whose sim reproduces the recorded ``steps`` best (see the module docstring)."""
    unknown = set(cfg.params) - set(FITTABLE)
    if unknown or not cfg.params:
        raise ValueError(f"sysid params must be among {FITTABLE}, got {cfg.params}")
    replay = Replayer(steps, cfg, hand_cfg)
    rng = np.random.default_rng(cfg.seed)
    torque = np.abs(replay.nominal.forcerange[:, 1])
    candidates = [RealityProfile(description="identified by dexndm sysid", latency_steps=n) for n in cfg.latencies]
    if not candidates:
        raise ValueError("sysid latencies: give at least one (e.g. [0])")
    latency_error = replay.errors(candidates).mean(1)
    base = candidates[int(np.argmin(latency_error))]
    p = len(cfg.params)
    mean = np.zeros((NUM_JOINTS, p))
    cov = np.tile(np.eye(p) * cfg.init_std ** 2, (NUM_JOINTS, 1, 1))          # per joint, p x p
    floor = np.eye(p) * cfg.min_std ** 2
    lo, hi = np.log(cfg.bounds[0]), np.log(cfg.bounds[1])
    history = []
    nominal_error = replay.errors([RealityProfile()])[0]

    def cem(iterations: int, desc: str) -> None:
        nonlocal mean, cov
        for _ in tqdm(range(iterations), desc=desc, disable=not progress):
            chol = np.linalg.cholesky(cov + floor)
            z = rng.normal(size=(cfg.population - 1, NUM_JOINTS, p))
            samples = np.clip(mean + np.einsum("jab,njb->nja", chol, z), lo, hi)
            samples = np.concatenate([mean[None], samples])                        # (population, 16, p)
            err = replay.errors([_profile(base, cfg.params, s.T, torque) for s in samples])
            history.append(float(err[0].mean()))
            elite = np.argsort(err, axis=0)[: cfg.elites]              # (elites, 16) per joint
            chosen = samples[elite, np.arange(NUM_JOINTS)]              # (elites, 16, p)
            centred = chosen - chosen.mean(0)
            a = cfg.smoothing
            mean = (1 - a) * mean + a * chosen.mean(0)
            cov = (1 - a) * cov + a * np.einsum("eja,ejb->jab", centred, centred) / cfg.elites

    cem(cfg.iterations, "sysid (CEM)")
    # The error valley is long and narrow (an overdamped joint shows mostly its P/D ratio) and the
    # search shrinks across it before it has walked along it: search each joint along the valley's
    # local direction (the principal axis of its search covariance) on a grid, then polish.
    for _ in range(cfg.valley_rounds):
        axis = np.linalg.eigh(cov)[1][..., -1]                                       # (16, p)
        axis /= np.abs(axis).max(axis=1, keepdims=True)
        shifts = np.log(np.geomspace(1 / cfg.valley_range, cfg.valley_range, cfg.valley_points))
        grid = np.clip(mean[None] + shifts[:, None, None] * axis[None], lo, hi)        # (points, 16, p)
        err = replay.errors([_profile(base, cfg.params, g.T, torque) for g in grid])
        mean = grid[np.argmin(err, axis=0), np.arange(NUM_JOINTS)]
        cem(cfg.polish_iterations, "sysid (polish)")
    mean = mean.T
    profile = _profile(base, cfg.params, mean, torque)
    return SysIdResult(profile, replay.errors([profile])[0], nominal_error, history)
