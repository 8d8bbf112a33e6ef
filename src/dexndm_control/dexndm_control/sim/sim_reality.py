"""A reality profile around the simulated hand node's physics (no ROS).

The stand-in for the real LEAP Hand (``dexndm_learning.sim.reality``): the profile's static part
is applied to the model once; commanded targets pass the profile's command filter (latency in
20 Hz control steps, then backlash), sampled at every control-period boundary of sim time as the
training environment does (without latency or backlash a command acts at once, as before); joint
positions are published through the sensor model (bias, noise).
"""
from __future__ import annotations

import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.sim.hand_sim import HandSim
from dexndm_learning.sim.reality import (CommandFilter, RealityProfile, SensorModel, apply_profile,
                                         capture_nominal, per_joint)


class RealityHand:
    def __init__(self, sim: HandSim, profile: RealityProfile):
        self.sim = sim
        apply_profile(sim.model, profile, capture_nominal(sim.model))
        filtered = profile.latency_steps > 0 or per_joint(profile.backlash, "backlash").any()
        self._filter = CommandFilter.from_profile(profile, 1) if filtered else None
        self._sensor = SensorModel.from_profile(profile)
        self.commanded = sim.targets
        if self._filter is not None:
            self._filter.reset(self.commanded)
        self._steps = 0

    def set_targets(self, q) -> None:
        """Commanded targets; raises JointCommandError (and keeps the previous ones) if unsafe."""
        self.commanded = joint_order.validate_targets(q)
        if self._filter is None:
            self.sim.set_targets(self.commanded)

    def step(self, n: int) -> None:
        for _ in range(n):
            if self._filter is not None and self._steps % self.sim.cfg.substeps == 0:
                applied = self._filter.step(self.commanded[None])[0]
                self.sim.set_targets(joint_order.clip_to_limits(applied))   # backlash may overshoot a limit
            self.sim.step(1)
            self._steps += 1

    def measured_positions(self) -> np.ndarray:
        return self._sensor.measure(self.sim.joint_positions())
