"""The scenes the simulated hand node can run (no ROS): the bare hand or a Chaos Box scene.

``hand``: the hand alone at its mount, starting open. ``chaos_box``: the hand buried in a box of
soft balls; ``chaos_box_strapped``: the palm-up variant with a ball strapped to three fingertips
(``dexndm_learning.sim.chaos_box``). Chaos Box scenes start at the canonical grasp (the pose the
balls were placed around) and hold it for ``SETTLE_S`` of sim time so the balls have come to
rest on and around the hand before anyone commands it. In every scene the wrist rotates the mount.
"""
from __future__ import annotations

from dexndm_learning import joint_order
from dexndm_learning.sim.chaos_box import chaos_box_spec
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.hand_sim import HandSim

SCENES = {"hand": None, "chaos_box": "box", "chaos_box_strapped": "strapped"}
SETTLE_S = 1.0


def scene_sim(scene: str, cfg: HandConfig, wrist, n_balls: int = 0, seed: int = 0) -> HandSim:
    """The hand simulation of ``scene``; ``n_balls`` 0 = the box's default count."""
    if scene not in SCENES:
        raise ValueError(f"unknown scene '{scene}'; valid: {list(SCENES)}")
    if SCENES[scene] is None:
        return HandSim(cfg, wrist=wrist)
    spec = chaos_box_spec(cfg, wrist, SCENES[scene], n_balls=n_balls or None, seed=seed)
    sim = HandSim(cfg, spec=spec, initial_q=joint_order.CANONICAL_GRASP)
    sim.step(round(SETTLE_S / sim.timestep))
    return sim
