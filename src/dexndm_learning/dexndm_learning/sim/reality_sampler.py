"""Random reality profiles: a distribution file (``config/reality/distributions/<name>.yaml``)
gives a range for each knob of ``RealityProfile``; ``sample_profiles`` draws K profiles from it,
reproducibly from a seed, for benchmarks on worlds nobody tuned for.

A knob's range: ``{low, high}`` (uniform), ``log: true`` (uniform in log space, for multipliers),
``per_joint: true`` (each joint drawn independently), or ``spread: s`` (one draw for the hand,
then each joint within +-s of it, relative, clipped to the range). ``latency_steps`` is drawn
as an integer in [low, high]. Knobs the file leaves out keep the nominal value.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.config import ConfigError, load_yaml, resolve_config
from dexndm_learning.sim.reality import RealityProfile

PER_JOINT = {"kp_scale", "kd_scale", "torque_limit", "backlash", "damping_scale", "frictionloss_scale",
             "armature_scale", "sensor_noise_std", "sensor_bias"}


@dataclass
class Range:
    low: float
    high: float
    log: bool = False
    per_joint: bool = False
    spread: float = 0.0

    def __post_init__(self):
        if not self.low <= self.high or (self.log and self.low <= 0) or self.spread < 0:
            raise ConfigError(f"bad range {self}: need low <= high, low > 0 for log, spread >= 0")


@dataclass
class ProfileDistribution:
    description: str = ""
    kp_scale: Range | None = None
    kd_scale: Range | None = None
    torque_limit: Range | None = None
    latency_steps: Range | None = None
    backlash: Range | None = None
    damping_scale: Range | None = None
    frictionloss_scale: Range | None = None
    armature_scale: Range | None = None
    link_mass_scale: Range | None = None
    object_friction_scale: Range | None = None
    object_mass_scale: Range | None = None
    sensor_noise_std: Range | None = None
    sensor_bias: Range | None = None

    def __post_init__(self):
        for name in ("latency_steps", "link_mass_scale", "object_friction_scale", "object_mass_scale"):
            r = getattr(self, name)
            if r is not None and (r.per_joint or r.spread):
                raise ConfigError(f"{name} is one number for the hand: per_joint / spread do not apply")

    @classmethod
    def load(cls, name_or_path: str | Path) -> "ProfileDistribution":
        return load_yaml(cls, resolve_config(name_or_path, "reality/distributions"))


def _draw(r: Range, rng: np.random.Generator, n: int) -> np.ndarray:
    lo, hi = (np.log(r.low), np.log(r.high)) if r.log else (r.low, r.high)
    x = rng.uniform(lo, hi, n)
    return np.exp(x) if r.log else x


def _sample_knob(name: str, r: Range, rng: np.random.Generator):
    if name == "latency_steps":
        return int(rng.integers(int(r.low), int(r.high) + 1))
    if r.per_joint:
        return [round(float(v), 5) for v in _draw(r, rng, joint_order.NUM_JOINTS)]
    value = float(_draw(r, rng, 1)[0])
    if r.spread and name in PER_JOINT:
        joints = value * (1 + rng.uniform(-r.spread, r.spread, joint_order.NUM_JOINTS))
        return [round(float(v), 5) for v in np.clip(joints, r.low, r.high)]
    return round(value, 5)


def sample_profiles(dist: ProfileDistribution, k: int, seed: int = 0) -> list[RealityProfile]:
    """K profiles; profile i depends only on (seed, i), so a larger K keeps the first ones."""
    profiles = []
    for i in range(k):
        rng = np.random.default_rng([seed, i])
        knobs = {f.name: _sample_knob(f.name, getattr(dist, f.name), rng)
                 for f in fields(dist) if f.name != "description" and getattr(dist, f.name) is not None}
        profiles.append(RealityProfile(description=f"{dist.description}: sample {i} (seed {seed})", seed=i, **knobs))
    return profiles
