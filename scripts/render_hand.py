"""Render the hand for the README: the open hand and a start grasp, for each hand version.

    .venv/bin/python scripts/render_hand.py --out docs/img/hand_versions.png

The grasp is a cached start grasp of ``cylinder_00``, palm up (made on first use, seconds).
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from dexndm_learning import joint_order  # noqa: E402
from dexndm_learning.rl.render import CAMERA_DISTANCE, camera_angles  # noqa: E402
from dexndm_learning.sim.rotation_env import STATE_SPEC, EnvConfig, RotationEnv  # noqa: E402


def render(model, data, centre, size, view=(0.0, 0.0, 1.0), distance=CAMERA_DISTANCE * 0.9) -> np.ndarray:
    cam = mujoco.MjvCamera()
    cam.lookat[:] = centre
    cam.distance = distance
    cam.azimuth, cam.elevation = camera_angles(np.array(view), tilt_deg=15.0)
    with mujoco.Renderer(model, size, size) as r:
        r.update_scene(data, cam)
        return r.render().copy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/img/hand_versions.png")
    ap.add_argument("--size", type=int, default=360)
    args = ap.parse_args()
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(7, 7))
    for row, version in enumerate(("v1", "v2")):
        env = RotationEnv(EnvConfig(num_envs=1, hand_overrides={"version": version}))
        m, d = env.models[0], mujoco.MjData(env.models[0])
        mujoco.mj_setState(m, d, env.state[0], STATE_SPEC)
        mujoco.mj_forward(m, d)
        grasp = render(m, d, env.centre, args.size)
        d.qpos[env.qadr] = joint_order.OPEN_POSE
        d.qpos[env.obj_qadr:env.obj_qadr + 3] = env.centre + np.array([0, 0, 0.3])   # out of the picture
        mujoco.mj_forward(m, d)
        # from the index finger's side, tilted toward the palm: the finger lengths show
        open_hand = render(m, d, env.centre + np.array([0.04, -0.03, -0.09]), args.size, view=(0.0, 1.0, 0.5),
                           distance=0.42)
        for col, (img, what) in enumerate(((open_hand, "open hand, side"), (grasp, "start grasp, cylinder_00"))):
            axes[row, col].imshow(img)
            axes[row, col].set_title(f"{version}: {what}", fontsize=10)
            axes[row, col].axis("off")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(args.out)


if __name__ == "__main__":
    main()
