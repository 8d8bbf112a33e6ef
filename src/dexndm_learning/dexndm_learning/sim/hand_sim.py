"""A single simulated LEAP Hand stepped in real time or as fast as possible (no ROS).

This is the physics behind the simulated hand node; it speaks sim angles in MJ order.
"""
from __future__ import annotations

import mujoco
import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.sim.hand_model import HandConfig, hand_spec, joint_dof_addr, joint_qpos_addr


class HandSim:
    def __init__(self, cfg: HandConfig | None = None, wrist="palm_up", spec: mujoco.MjSpec | None = None,
                 initial_q=None):
        self.cfg = cfg or HandConfig.load()
        self.spec = spec if spec is not None else hand_spec(self.cfg, wrist)
        self.model = self.spec.compile()
        self.data = mujoco.MjData(self.model)
        self._qadr = joint_qpos_addr(self.model)
        self._dadr = joint_dof_addr(self.model)
        self.reset(joint_order.OPEN_POSE if initial_q is None else initial_q)

    def reset(self, q) -> None:
        q = joint_order.validate_targets(q)
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._qadr] = q
        self.data.ctrl[:] = q
        mujoco.mj_forward(self.model, self.data)

    @property
    def time(self) -> float:
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    @property
    def targets(self) -> np.ndarray:
        return self.data.ctrl[:joint_order.NUM_JOINTS].copy()

    def set_targets(self, q) -> None:
        """Set joint position targets; raises JointCommandError and keeps the old ones if unsafe."""
        self.data.ctrl[:joint_order.NUM_JOINTS] = joint_order.validate_targets(q)

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            mujoco.mj_step(self.model, self.data)

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self._dadr].copy()

    def joint_efforts(self) -> np.ndarray:
        """Applied actuator torques (N m) after the force limit."""
        return self.data.actuator_force[:joint_order.NUM_JOINTS].copy()

    def self_contacts(self) -> list[tuple[str, str]]:
        """Pairs of hand bodies in contact (self-collision)."""
        pairs = []
        for c in self.data.contact[: self.data.ncon]:
            b1 = self.model.body(self.model.geom_bodyid[c.geom1]).name
            b2 = self.model.body(self.model.geom_bodyid[c.geom2]).name
            pairs.append((b1, b2))
        return pairs
