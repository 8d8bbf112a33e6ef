"""The hand's frames from its joint positions: forward kinematics of the MuJoCo model every policy
trains on (``dexndm_learning.sim.hand_model``), so frame names are its body names, which are also
the links of the generated URDF (``dexndm_learning.sim.urdf``). Used by the Foxglove live view and
by the bag recorder's ``/tf`` (so a recording shows the hand in Foxglove or RViz).

Frames: ``world`` (gravity along -z) -> ``mount`` (hand frame H, oriented by the wrist) -> one
frame per body.
"""
from __future__ import annotations

import mujoco
import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.sim.hand_model import HandConfig, hand_spec, joint_qpos_addr


class HandFrames:
    """Forward kinematics and shapes of the simulated hand at wrist ``wrist``."""

    def __init__(self, hand_config: str = "hand", wrist: str = "palm_up"):
        self.model = hand_spec(HandConfig.load(hand_config), wrist).compile()
        self.data = mujoco.MjData(self.model)
        self.qadr = joint_qpos_addr(self.model)
        m = self.model
        self.bodies = [m.body(b).name for b in range(1, m.nbody)]          # all but the world body
        self.parents = {m.body(b).name: ("world" if m.body_parentid[b] == 0 else m.body(m.body_parentid[b]).name)
                        for b in range(1, m.nbody)}
        self.palm = m.body("palm").id

    def poses(self, q) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        """(parent, child, position in the parent, orientation (w, x, y, z) in the parent) of every
        body at joint positions ``q`` (MJ order, rad; clipped to the limits)."""
        m, d = self.model, self.data
        d.qpos[self.qadr] = np.clip(np.asarray(q, float), joint_order.LOWER, joint_order.UPPER)
        mujoco.mj_kinematics(m, d)
        out = []
        for b in range(1, m.nbody):
            p = m.body_parentid[b]
            rot_p = np.zeros(9)
            mujoco.mju_quat2Mat(rot_p, d.xquat[p])
            inv, rel_q = np.zeros(4), np.zeros(4)
            mujoco.mju_negQuat(inv, d.xquat[p])
            mujoco.mju_mulQuat(rel_q, inv, d.xquat[b])
            name = m.body(b).name
            out.append((self.parents[name], name, rot_p.reshape(3, 3).T @ (d.xpos[b] - d.xpos[p]), rel_q))
        return out

    def palm_centre(self) -> np.ndarray:
        return self.data.xpos[self.palm].copy()
