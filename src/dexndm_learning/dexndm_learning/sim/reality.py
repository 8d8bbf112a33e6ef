"""Reality profiles: the stand-in for the real LEAP Hand.

A profile (``config/reality/<name>.yaml``) describes how "reality" differs from the nominal
simulation. Static parts change a compiled ``MjModel`` in place (``apply_profile``), always
relative to values captured once from the untouched model (``capture_nominal``), so applying a
profile twice, or one profile after another, gives the same model as applying it once. Only the
hand's 17 bodies, 16 joints and 16 actuators and the body named ``object`` are touched.

Runtime parts act at the 20 Hz control rate on numpy batches of shape (N envs, 16):

* ``CommandFilter``: command latency (a queue of k control steps: the target sent at step t
  reaches the motor at step t + k), then gear backlash as the *play* (backlash) operator on the
  target: the effective target y follows the command u only once u leaves the dead band
  ``[y - w/2, y + w/2]`` (``y <- clip(y, u - w/2, u + w/2)``); a reversal smaller than the band
  width w leaves the link where it is, like a gear train with play.
* ``SensorModel``: measured joint positions = true + bias + N(0, std^2) noise (seeded).

Per-joint knobs take a scalar or a list of 16 in MJ order (``joint_order``). The paper's
identified values are given in the paper's (Isaac Gym) order and converted here:
``kp_isaac``/``kd_isaac`` (Table 16; method.md section 10) replace the nominal gains, and
``link_masses_isaac`` (Table 17) replaces the nominal link masses. Multipliers apply on top.

Isaac Gym's 22 LEAP links (depth-first over the URDF, fingers in Isaac joint order index, thumb,
middle, ring) map onto our bodies as: 0 root dummy (ignored), 1 palm, then per finger the four
links driven by the finger's four joints (the child body of each joint: ``*_bs``, ``*_px``,
``*_md``, ``*_ds`` and ``th_mp``, ``th_bs``, ``th_px``, ``th_ds``) followed by a fingertip dummy
(ignored; our fingertip is a site on the distal body): index 2-5, thumb 7-10, middle 12-15,
ring 17-20; dummies (1e-7 kg) at 0, 6, 11, 16, 21. The match is confirmed by the masses: link 8
(0.003 kg) is the thumb's tiny ``th_bs`` (Menagerie 0.003 kg).

Mass changes scale the body's rotational inertia by the same factor (same shape and density
distribution), then ``mj_setConst`` recomputes the compile-time constants derived from masses
(``body_invweight0``, ``dof_invweight0``, ``body_subtreemass``): contact and limit regularization
depends on them, and stale values make constraints too stiff or too soft.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from dexndm_learning.arrays import like, namespace
from dexndm_learning import joint_order
from dexndm_learning.config import ConfigError, load_yaml, resolve_config
from dexndm_learning.sim.hand_model import set_pd_gains

NUM_JOINTS = joint_order.NUM_JOINTS
HAND_BODIES: tuple[str, ...] = ("palm",) + tuple(
    f"{finger}_{link}" for finger in ("if", "mf", "rf") for link in ("bs", "px", "md", "ds")) + (
    "th_mp", "th_bs", "th_px", "th_ds")
"""Hand bodies with mass: the palm, then the child body of each joint in MJ joint order."""
JOINT_BODIES: tuple[str, ...] = HAND_BODIES[1:]

_ISAAC_LINKS = 22
_isaac_bodies: list[str | None] = [None, "palm"]
for _finger in range(4):
    _isaac_bodies += [JOINT_BODIES[joint_order.JOINT_NAMES.index(j)]
                      for j in joint_order.names(joint_order.Order.ISAAC)[4 * _finger:4 * _finger + 4]] + [None]
ISAAC_LINK_BODIES: tuple[str | None, ...] = tuple(_isaac_bodies)
"""Our body for each of Isaac Gym's 22 LEAP links (None: massless dummy link)."""
assert len(ISAAC_LINK_BODIES) == _ISAAC_LINKS

PerJoint = float | list[float]


@dataclass
class RealityProfile:
    """How "reality" differs from the nominal sim. Per-joint lists are in MJ order."""

    description: str = ""
    kp_scale: PerJoint = 1.0
    kd_scale: PerJoint = 1.0
    kp_isaac: list[float] | None = None        # absolute P gains, Isaac Gym order (N m/rad)
    kd_isaac: list[float] | None = None        # absolute D gains, Isaac Gym order (N m s/rad)
    torque_limit: PerJoint | None = None       # absolute actuator torque limit (N m); None: nominal
    latency_steps: int = 0                     # command latency in 20 Hz control steps
    backlash: PerJoint = 0.0                   # dead band width (rad)
    damping_scale: PerJoint = 1.0
    frictionloss_scale: PerJoint = 1.0
    armature_scale: PerJoint = 1.0
    link_mass_scale: float | dict[str, float] = 1.0   # scalar, or {body name: multiplier}
    link_masses_isaac: list[float] | None = None      # 22 absolute link masses (kg), Isaac Gym order
    object_friction_scale: float = 1.0
    object_mass_scale: float = 1.0
    sensor_noise_std: PerJoint = 0.0           # rad
    sensor_bias: PerJoint = 0.0                # rad
    seed: int = 0                              # sensor noise stream

    def __post_init__(self):
        for name in ("kp_scale", "kd_scale", "torque_limit", "backlash", "damping_scale",
                     "frictionloss_scale", "armature_scale", "sensor_noise_std", "sensor_bias"):
            value = getattr(self, name)
            if value is not None:
                self._check_values(name, per_joint(value, name), allow_negative=name == "sensor_bias")
        for name, n in (("kp_isaac", NUM_JOINTS), ("kd_isaac", NUM_JOINTS), ("link_masses_isaac", _ISAAC_LINKS)):
            value = getattr(self, name)
            if value is not None:
                if len(value) != n:
                    raise ConfigError(f"{name}: expected {n} values, got {len(value)}")
                self._check_values(name, np.asarray(value, float))
        if self.latency_steps < 0:
            raise ConfigError(f"latency_steps must be >= 0, got {self.latency_steps}")
        if isinstance(self.link_mass_scale, dict):
            unknown = sorted(set(self.link_mass_scale) - set(HAND_BODIES))
            if unknown:
                raise ConfigError(f"link_mass_scale: unknown bodies {unknown}; valid: {list(HAND_BODIES)}")
        for name in ("object_friction_scale", "object_mass_scale"):
            self._check_values(name, np.asarray([getattr(self, name)]))

    @staticmethod
    def _check_values(name, values, allow_negative=False):
        if not np.all(np.isfinite(values)) or (not allow_negative and np.any(values < 0)):
            raise ConfigError(f"{name}: values must be finite{'' if allow_negative else ' and >= 0'}, got {values}")


def per_joint(value, name: str = "value") -> np.ndarray:
    """A scalar or 16 values (MJ order) -> array of 16."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full(NUM_JOINTS, float(arr))
    if arr.shape != (NUM_JOINTS,):
        raise ConfigError(f"{name}: expected a number or 16 values (MJ order), got {len(arr)}")
    return arr


def load_profile(name_or_path: str | Path) -> RealityProfile:
    """A profile by name (``config/reality/<name>.yaml``) or by path."""
    return load_yaml(RealityProfile, resolve_config(name_or_path, "reality"))


# --- static part: the compiled model ------------------------------------------------------------
@dataclass
class NominalParams:
    """Values of a freshly compiled model that profiles are applied relative to."""

    actuators: np.ndarray          # hand actuator ids, MJ order
    dofs: np.ndarray               # hand dof addresses, MJ order
    bodies: np.ndarray             # ids of HAND_BODIES
    kp: np.ndarray
    kd: np.ndarray
    forcerange: np.ndarray
    damping: np.ndarray
    frictionloss: np.ndarray
    armature: np.ndarray
    body_mass: np.ndarray
    body_inertia: np.ndarray
    object_body: int | None = None
    object_geoms: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    object_mass: float = 0.0
    object_inertia: np.ndarray = field(default_factory=lambda: np.zeros(3))
    object_friction: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


def capture_nominal(model: mujoco.MjModel) -> NominalParams:
    """Record the parameters ``apply_profile`` changes; call on the untouched model."""
    acts = np.array([model.actuator(n).id for n in joint_order.JOINT_NAMES])
    dofs = np.array([model.jnt_dofadr[model.joint(n).id] for n in joint_order.JOINT_NAMES])
    bodies = np.array([model.body(n).id for n in HAND_BODIES])
    nominal = NominalParams(
        actuators=acts, dofs=dofs, bodies=bodies,
        kp=model.actuator_gainprm[acts, 0].copy(), kd=-model.actuator_biasprm[acts, 2].copy(),
        forcerange=model.actuator_forcerange[acts].copy(),
        damping=model.dof_damping[dofs].copy(), frictionloss=model.dof_frictionloss[dofs].copy(),
        armature=model.dof_armature[dofs].copy(),
        body_mass=model.body_mass[bodies].copy(), body_inertia=model.body_inertia[bodies].copy())
    obj = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "object")
    if obj >= 0:
        geoms = np.flatnonzero(model.geom_bodyid == obj)
        nominal.object_body = obj
        nominal.object_geoms = geoms
        nominal.object_mass = float(model.body_mass[obj])
        nominal.object_inertia = model.body_inertia[obj].copy()
        nominal.object_friction = model.geom_friction[geoms].copy()
    return nominal


def profile_gains(profile: RealityProfile, nominal: NominalParams) -> tuple[np.ndarray, np.ndarray]:
    """(kp, kd) in MJ order that ``profile`` gives."""
    kp = nominal.kp if profile.kp_isaac is None else joint_order.convert(profile.kp_isaac, "isaac", "mj")
    kd = nominal.kd if profile.kd_isaac is None else joint_order.convert(profile.kd_isaac, "isaac", "mj")
    return kp * per_joint(profile.kp_scale, "kp_scale"), kd * per_joint(profile.kd_scale, "kd_scale")


def profile_link_masses(profile: RealityProfile, nominal: NominalParams) -> np.ndarray:
    """Masses of HAND_BODIES that ``profile`` gives."""
    masses = nominal.body_mass.copy()
    if profile.link_masses_isaac is not None:
        for mass, body in zip(profile.link_masses_isaac, ISAAC_LINK_BODIES):
            if body is not None:
                masses[HAND_BODIES.index(body)] = mass
    if isinstance(profile.link_mass_scale, dict):
        scale = np.array([profile.link_mass_scale.get(b, 1.0) for b in HAND_BODIES])
    else:
        scale = profile.link_mass_scale
    return masses * scale


def apply_profile(model: mujoco.MjModel, profile: RealityProfile, nominal: NominalParams,
                  scratch: mujoco.MjData | None = None) -> None:
    """Set the profile's static parameters on ``model`` (in place), relative to ``nominal``.

    ``scratch``: an MjData of ``model`` that ``mj_setConst`` may overwrite (one is made if None).
    """
    kp, kd = profile_gains(profile, nominal)
    set_pd_gains(model, kp, kd, nominal.actuators)
    if profile.torque_limit is None:
        model.actuator_forcerange[nominal.actuators] = nominal.forcerange
    else:
        limit = per_joint(profile.torque_limit, "torque_limit")
        model.actuator_forcerange[nominal.actuators] = np.stack([-limit, limit], axis=1)
    model.dof_damping[nominal.dofs] = nominal.damping * per_joint(profile.damping_scale, "damping_scale")
    frictionloss_scale = per_joint(profile.frictionloss_scale, "frictionloss_scale")
    model.dof_frictionloss[nominal.dofs] = nominal.frictionloss * frictionloss_scale
    model.dof_armature[nominal.dofs] = nominal.armature * per_joint(profile.armature_scale, "armature_scale")
    masses = profile_link_masses(profile, nominal)
    model.body_mass[nominal.bodies] = masses
    model.body_inertia[nominal.bodies] = nominal.body_inertia * (masses / nominal.body_mass)[:, None]
    if nominal.object_body is not None:
        model.body_mass[nominal.object_body] = nominal.object_mass * profile.object_mass_scale
        model.body_inertia[nominal.object_body] = nominal.object_inertia * profile.object_mass_scale
        model.geom_friction[nominal.object_geoms] = nominal.object_friction * profile.object_friction_scale
    mujoco.mj_setConst(model, scratch if scratch is not None else mujoco.MjData(model))


# --- runtime part: batched command and sensor models ---------------------------------------------
class CommandFilter:
    """Latency queue then backlash (play operator) on joint targets, batched over N envs; numpy
    arrays, or torch tensors on a device after ``place_like``."""

    def __init__(self, n_envs: int, latency_steps: int = 0, backlash: PerJoint = 0.0):
        if latency_steps < 0:
            raise ValueError(f"latency_steps must be >= 0, got {latency_steps}")
        self.n_envs = n_envs
        self.latency_steps = latency_steps
        self.half_band = per_joint(backlash, "backlash") / 2.0
        self._queue = np.zeros((latency_steps, n_envs, NUM_JOINTS))
        self._head = 0
        self._output = np.zeros((n_envs, NUM_JOINTS))

    @classmethod
    def from_profile(cls, profile: RealityProfile, n_envs: int) -> "CommandFilter":
        return cls(n_envs, profile.latency_steps, profile.backlash)

    def place_like(self, ref) -> None:
        """Keep the filter's state as arrays of ``ref``'s kind, dtype and device."""
        self.half_band, self._queue, self._output = (like(x, ref) for x in (self.half_band, self._queue, self._output))

    def reset(self, q0, env_ids=None) -> None:
        """Start envs ``env_ids`` (all if None) at rest at targets ``q0`` ((16,) or (len(ids), 16))."""
        ids = slice(None) if env_ids is None else env_ids
        self._queue[:, ids] = q0
        self._output[ids] = q0

    def reset_where(self, mask, q0) -> None:
        """Start the envs where ``mask`` (N,) is true at rest at their row of ``q0`` (N, 16), without
        indexing (on a device, nothing is read back)."""
        xp = namespace(self._output)
        self._queue = xp.where(mask[None, :, None], q0[None], self._queue)
        self._output = xp.where(mask[:, None], q0, self._output)

    def step(self, targets):
        """Commanded targets (N, 16) at this control step -> targets the motors act on."""
        xp = namespace(self._output)
        targets = xp.asarray(targets, dtype=self._output.dtype)
        if self.latency_steps:
            delayed = xp.asarray(self._queue[self._head], copy=True)
            self._queue[self._head] = targets
            self._head = (self._head + 1) % self.latency_steps
        else:
            delayed = targets
        self._output = xp.clip(self._output, delayed - self.half_band, delayed + self.half_band)
        return xp.asarray(self._output, copy=True)


class SensorModel:
    """Joint position measurement: true + bias + Gaussian noise (seeded), batched over envs."""

    def __init__(self, noise_std: PerJoint = 0.0, bias: PerJoint = 0.0, seed: int = 0):
        self.noise_std = per_joint(noise_std, "sensor_noise_std")
        self.bias = per_joint(bias, "sensor_bias")
        self.noisy = bool(self.noise_std.any())
        self.rng = np.random.default_rng(seed)

    def place_like(self, ref, rng) -> None:
        """Measure arrays of ``ref``'s kind, dtype and device, drawing the noise from ``rng`` (an
        ``arrays.TorchRandom`` for tensors)."""
        self.noise_std, self.bias = like(self.noise_std, ref), like(self.bias, ref)
        self.rng = rng

    @classmethod
    def from_profile(cls, profile: RealityProfile) -> "SensorModel":
        return cls(profile.sensor_noise_std, profile.sensor_bias, profile.seed)

    def measure(self, q):
        q = namespace(q).asarray(q, dtype=self.bias.dtype)
        if not self.noisy:
            return q + self.bias
        return q + self.bias + self.rng.normal(size=q.shape) * self.noise_std
