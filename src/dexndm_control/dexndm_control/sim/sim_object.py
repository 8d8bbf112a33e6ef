"""The simulated hand holding an object, started from a cached grasp (no ROS).

As in training (``dexndm_learning.sim.rotation_env``) the hand stays at the identity mount and
the wrist orientation is emulated by rotating gravity into the hand frame H, so the grasps cached
for the training environment (made with the mount at identity) apply unchanged. Object pose and
velocity are therefore reported in H (position relative to the mount).
"""
from __future__ import annotations

import mujoco
import numpy as np

from dexndm_learning.sim import grasps as grasp_mod
from dexndm_learning.sim import objects
from dexndm_learning.sim.hand_model import GRASP_CENTRE_IN_HAND, HandConfig, hand_spec
from dexndm_learning.sim.hand_sim import HandSim
from dexndm_learning.sim.wrist import NAMED_WRISTS, gravity_in_hand

class ObjectHandSim(HandSim):
    def __init__(self, cfg: HandConfig, object_set: str, object_index: int, object_seed: int = 0,
                 wrist="palm_up", grasp_index: int = 0, grasp: grasp_mod.GraspConfig | None = None):
        """``grasp``: how start grasps are made (object orientation, grasp centre offset); the
        training environment's default when None. A policy starts best as it was trained."""
        objs = objects.object_set(object_set, seed=object_seed)
        if not 0 <= object_index < len(objs):
            raise ValueError(f"object_index {object_index} out of range: set '{object_set}' has {len(objs)} objects")
        if isinstance(wrist, str) and wrist not in NAMED_WRISTS:
            raise ValueError(f"unknown wrist '{wrist}'; valid: {list(NAMED_WRISTS)} or a quaternion")
        self.object = objs[object_index]
        spec = hand_spec(cfg, "palm_up")
        objects.add_object(spec, self.object, body_name="object",
                           pos=list(np.add(cfg.mount_pos, GRASP_CENTRE_IN_HAND)))
        super().__init__(cfg, spec=spec)
        self.model.opt.gravity[:] = gravity_in_hand(wrist)
        grasps = grasp_mod.grasps_for(self.model, cfg, self.object, object_index, wrist,
                                      grasp or grasp_mod.GraspConfig())
        if len(grasps) == 0:
            raise RuntimeError(f"no stable grasp of '{self.object.name}' for wrist {wrist}")
        g = grasp_index % len(grasps)
        mujoco.mj_setState(self.model, self.data, grasps.states[g], mujoco.mjtState.mjSTATE_FULLPHYSICS)
        self.set_targets(grasps.targets[g])
        mujoco.mj_forward(self.model, self.data)
        self._body = self.model.body("object").id
        self._mount = np.asarray(cfg.mount_pos, dtype=float)
        self._vel = np.zeros(6)

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """(centre of mass relative to the mount, body orientation w, x, y, z), hand frame H
        (the centre of mass is what the training environment tracks and tests for drops)."""
        return self.data.xipos[self._body] - self._mount, self.data.xquat[self._body].copy()

    def object_twist(self) -> tuple[np.ndarray, np.ndarray]:
        """(linear velocity of the centre of mass, angular velocity), hand frame H."""
        mujoco.mj_objectVelocity(self.model, self.data, mujoco.mjtObj.mjOBJ_BODY, self._body, self._vel, 0)
        return self._vel[3:].copy(), self._vel[:3].copy()
