"""Look at a policy: render episodes of the rotation env to a contact sheet (PNG) and a video
(MP4, H.264 through imageio-ffmpeg's packaged ffmpeg; or a GIF) with the time, each env's axis and
its rotation so far drawn on the frames.

Numbers say how often the object falls; pictures say how (e.g. specialist (a) about +z slid
the object off the open side of the palm, which pointed at the object linear-velocity term).

Rendering is offscreen MuJoCo. ``MUJOCO_GL`` must name a backend before mujoco is imported;
this module defaults it to ``egl`` (works headless with Mesa or a GPU), set ``MUJOCO_GL=glfw``
on a desktop or ``osmesa`` where neither exists. The hand is fixed in the simulator and the
wrist is emulated by rotating gravity (rotation_env.py). The camera is fixed to the hand on its
palmar side (tilted toward the wrist), so the object is never hidden behind the hand; with the
palm up, down in the picture is down in the world, for other wrists the row label names the wrist.
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from dexndm_learning.sim.axes import axis_label  # noqa: E402
from dexndm_learning.sim.metrics import CONTROL_DT  # noqa: E402

CAMERA_TILT_DEG = 30.0      # off the palm normal, so finger motion reads in the picture
CAMERA_DISTANCE = 0.30      # m from the grasp centre


def camera_angles(view_dir: np.ndarray, tilt_deg: float = CAMERA_TILT_DEG) -> tuple[float, float]:
    """(azimuth, elevation) in degrees of a MuJoCo free camera placed on the ``view_dir`` side of
    the grasp centre (hand frame), tilted ``tilt_deg`` off that axis, looking at the centre."""
    u = np.asarray(view_dir, float)
    u = u / np.linalg.norm(u)
    side = np.cross(u, [0.0, 1.0, 0.0])
    if np.linalg.norm(side) < 1e-6:
        side = np.cross(u, [1.0, 0.0, 0.0])
    side /= np.linalg.norm(side)
    t = np.deg2rad(tilt_deg)
    position_dir = np.cos(t) * u + np.sin(t) * side
    forward = -position_dir
    elevation = np.degrees(np.arcsin(np.clip(forward[2], -1.0, 1.0)))
    azimuth = np.degrees(np.arctan2(forward[1], forward[0]))
    return float(azimuth), float(elevation)


class EnvRenderer:
    """Renders chosen environments of a RotationEnv from their current physics state."""

    def __init__(self, env, env_ids, size: int = 240):
        import mujoco

        self._mujoco = mujoco
        self.env = env
        self.data = {i: mujoco.MjData(env.models[i]) for i in env_ids}
        self.renderers = {i: mujoco.Renderer(env.models[i], size, size) for i in env_ids}
        self.camera = mujoco.MjvCamera()
        self.camera.lookat[:] = env.centre
        self.camera.distance = CAMERA_DISTANCE
        self.camera.azimuth, self.camera.elevation = camera_angles(np.array([0.0, 0.0, 1.0]))   # palmar side

    def frame(self, i: int) -> np.ndarray:
        from dexndm_learning.sim.rotation_env import STATE_SPEC

        m, d = self.env.models[i], self.data[i]
        self._mujoco.mj_setState(m, d, self.env.state[i], STATE_SPEC)
        self._mujoco.mj_forward(m, d)
        r = self.renderers[i]
        r.update_scene(d, self.camera)
        return r.render().copy()

    def close(self) -> None:
        for r in self.renderers.values():
            r.close()


@dataclass
class Recording:
    frames: list            # frames[t][k]: image of env k at the t-th rendered step
    times: list[int]        # control step of each rendered step
    fell_at: dict           # env -> control step of its first drop (None: held)
    rotation: list          # rotation[t][k]: rad about the env's axis so far (first episode)
    axes: list[str]         # each env's axis label


def record(env, act, env_ids, steps: int, every: int, size: int = 240) -> Recording:
    """Run ``steps`` control steps, rendering every ``every``-th."""
    renderer = EnvRenderer(env, env_ids, size)
    obs = env.observations()
    rec = Recording([], [], {i: None for i in env_ids}, [], [axis_label(env.axis_world[i]) for i in env_ids])
    turned = np.zeros(len(env_ids))
    try:
        for t in range(steps):
            if t % every == 0:
                rec.frames.append([renderer.frame(i) for i in env_ids])
                rec.times.append(t)
                rec.rotation.append(turned.copy())
            obs, _, _, info = env.step(act(obs))
            for k, i in enumerate(env_ids):
                if rec.fell_at[i] is None:
                    turned[k] += CONTROL_DT * float(np.dot(info["omega"][i], info["axis_hand"][i]))
                    if info["dropped"][i]:
                        rec.fell_at[i] = t
    finally:
        renderer.close()
    return rec


def save_contact_sheet(frames, times, labels, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(labels), len(frames)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 1.7 + 0.4), squeeze=False)
    for c, (t, row) in enumerate(zip(times, frames)):
        for r, img in enumerate(row):
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{t * CONTROL_DT:.1f} s", fontsize=7)
            if c == 0:
                ax.set_ylabel(labels[r], fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def annotated(rec: Recording) -> list[np.ndarray]:
    """Per rendered step, the environments side by side, each with its time, axis and rotation so far."""
    from PIL import Image, ImageDraw

    out = []
    for t, row, turned in zip(rec.times, rec.frames, rec.rotation):
        tiles = []
        for k, img in enumerate(row):
            tile = Image.fromarray(img)
            ImageDraw.Draw(tile).text((3, 2), f"{t * CONTROL_DT:.1f} s  {rec.axes[k]}\n{turned[k]:+.2f} rad",
                                      fill=(255, 255, 255))
            tiles.append(np.asarray(tile))
        out.append(np.concatenate(tiles, axis=1))
    return out


def save_gif(rec: Recording, path: Path, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in annotated(rec)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)


def save_mp4(rec: Recording, path: Path, fps: float) -> None:
    """H.264 MP4 (yuv420p, plays everywhere) through imageio-ffmpeg's packaged ffmpeg."""
    import imageio.v2 as imageio

    with imageio.get_writer(path, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=2) as writer:
        for frame in annotated(rec):
            writer.append_data(frame)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Render a specialist (or a policy file) rotating objects: a contact "
                                             "sheet PNG and an animated GIF of a few environments.")
    ap.add_argument("--run", required=True, help="specialist run folder; with --policy, the run whose conditions are used")
    ap.add_argument("--policy", default=None, help="a deployable policy file to render instead of the run's actor")
    ap.add_argument("--axis-set", default=None, help="override the run's axis set, e.g. +z")
    ap.add_argument("--wrist", default=None, help="override the run's wrists with one named wrist")
    ap.add_argument("--envs", type=int, default=4, help="environments to render (one row each)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--every", type=int, default=10, help="render every N control steps (20 Hz)")
    ap.add_argument("--size", type=int, default=240, help="pixels per frame")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="output folder (default <run>/render)")
    ap.add_argument("--video", choices=["mp4", "gif"], default="mp4", help="video format")
    args = ap.parse_args(argv)

    from dexndm_learning.rl.evaluate import artifact_actor, specialist_actor
    from dexndm_learning.rl.specialist import run_config

    run = Path(args.run)
    overrides = {"num_envs": args.envs}
    if args.axis_set:
        overrides["axis_set"] = args.axis_set
    if args.wrist:
        overrides["wrists"] = [args.wrist]
    if args.policy:
        import dataclasses

        env_cfg = dataclasses.replace(run_config(run).env, arrays="numpy", **overrides)
        env, act = artifact_actor(Path(args.policy), env_cfg, args.seed)
        name = Path(args.policy).stem
    else:
        env, act = specialist_actor(run, args.envs, args.seed, overrides)
        name = run.name
    ids = list(range(args.envs))
    # the first episode of each env is what is labelled (an env that drops restarts with new draws)
    from dexndm_learning.sim.wrist import wrist_name

    labels = [f"{env.objects[env.obj_of_env[i]].name}\n{wrist_name(env.wrist[i]) or 'random wrist'}, "
              f"{axis_label(env.axis_world[i])}" for i in ids]
    rec = record(env, act, ids, int(round(args.seconds / CONTROL_DT)), args.every, args.size)
    fell_at = rec.fell_at
    labels = [lab + ("" if fell_at[i] is None else f", fell {fell_at[i] * CONTROL_DT:.1f} s") for lab, i in zip(labels, ids)]
    out = Path(args.out or run / "render")
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{name}_{args.axis_set or 'axes'}_{args.wrist or 'wrists'}".replace("+", "p").replace("-", "m")
    save_contact_sheet(rec.frames, rec.times, labels, out / f"{stem}.png", f"{name}: every {args.every * CONTROL_DT:.2f} s")
    fps = 2.0 / (args.every * CONTROL_DT)                                          # twice real time
    (save_mp4 if args.video == "mp4" else save_gif)(rec, out / f"{stem}.{args.video}", fps)
    falls = ", ".join(f"env {i} at {fell_at[i] * CONTROL_DT:.1f} s" for i in ids if fell_at[i] is not None)
    print(f"wrote {out / stem}.png and .{args.video}; first falls: {falls or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
