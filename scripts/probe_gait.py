"""How a specialist's gait turns its objects (issue 17): per rotation axis (+z, -x, ...), how fast
the object turns about it while it is still held, split by start grasp (cylinder standing on its
end, long axis within 45 degrees of the target axis, or lying), how much it rolls about its own
long axis, and the share still held at the end.

    .venv/bin/python scripts/probe_gait.py --run models/specialists/cyl_palm_up [--envs 128 --steps 300]

One synchronized episode per env in the run's training conditions (full gravity), as
``eval-specialist`` runs it; each env's first object only. The long axis is the object's body z
(a cylinder's axis in ``sim/objects.py``).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from dexndm_learning.rl.evaluate import specialist_actor
from dexndm_learning.sim.axes import axis_label
from dexndm_learning.policy.contract import CONTROL_DT


def long_axis(quat_wxyz: np.ndarray) -> np.ndarray:
    return Rotation.from_quat(quat_wxyz[:, [1, 2, 3, 0]]).apply([0.0, 0.0, 1.0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--checkpoint", default="checkpoint.pt")
    ap.add_argument("--envs", type=int, default=128)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with contextlib.redirect_stdout(sys.stderr):             # rsl_rl prints the networks; stdout is the table
        env, act = specialist_actor(args.run, args.envs, seed=args.seed, checkpoint=args.checkpoint)
    env.reset(np.arange(env.num_envs))
    axis = env.axis_hand.copy()
    sense = np.array([axis_label(a) for a in env.axis_world])
    standing = np.abs(np.sum(long_axis(np.asarray(env.sens[:, env.layout.obj_quat])) * axis, 1)) > np.cos(np.pi / 4)
    held = np.ones(env.num_envs, dtype=bool)
    turned, rolled, held_steps = (np.zeros(env.num_envs) for _ in range(3))
    for _ in range(args.steps):
        _, _, _, info = env.step(act(env.observations()))
        held &= ~info["dropped"]
        turned += np.where(held, np.sum(info["omega"] * axis, 1), 0.0)
        rolled += np.where(held, np.abs(np.sum(info["omega"] * long_axis(info["obj_quat"]), 1)), 0.0)
        held_steps += held
    speed, roll = turned / np.maximum(held_steps, 1), rolled / np.maximum(held_steps, 1)
    print(f"{args.run} ({args.checkpoint}), {env.num_envs} envs x {args.steps} steps "
          f"({args.steps * CONTROL_DT:.0f} s); speeds in rad/s while held")
    print("| sense | envs | standing | speed, standing | speed, lying | roll about own axis | held at the end |")
    print("|---|---|---|---|---|---|---|")
    def mean_speed(envs: np.ndarray) -> str:
        return f"{speed[envs].mean():.2f}" if envs.any() else "-"

    for s in dict.fromkeys(sense):
        i = sense == s
        if i.any():
            print(f"| {s} | {i.sum()} | {standing[i].mean():.0%} | {mean_speed(i & standing)} | "
                  f"{mean_speed(i & ~standing)} | {roll[i].mean():.2f} | {held[i].mean():.0%} |")


if __name__ == "__main__":
    main()
