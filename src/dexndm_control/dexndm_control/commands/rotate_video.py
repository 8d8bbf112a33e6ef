"""``dexndm rotate --sim --video``: frames of the simulated hand while the policy runs, written as
an H.264 MP4 (or a GIF) with the time, the axis and the rotation so far drawn on them, by the same
writer as ``dexndm-learn render-episodes`` (``dexndm_learning.rl.render``).

Frames are rendered offscreen from the simulated hand node's own MuJoCo data, between executor
callbacks (the node steps the physics in its callbacks, so a frame never sees half a step), every
``1 / fps`` seconds of simulated time; the camera looks at the object's starting position from the
palmar side, as render-episodes' does. ``MUJOCO_GL`` must name an offscreen backend before mujoco
is first imported (``dexndm rotate`` sets ``egl`` when asked for a video; see ``rl.render``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dexndm_learning.policy.contract import CONTROL_DT
from dexndm_learning.rl import render
from dexndm_learning.sim.axes import axis_label


class SimVideo:
    def __init__(self, sim, fps: float = 10.0, size: int = 320):
        import mujoco

        self.sim, self.period = sim, 1.0 / fps
        self.fps = fps
        self.renderer = mujoco.Renderer(sim.model, size, size)
        self.camera = mujoco.MjvCamera()
        self.camera.lookat[:] = sim.data.xipos[sim.model.body("object").id]
        self.camera.distance = render.CAMERA_DISTANCE
        self.camera.azimuth, self.camera.elevation = render.camera_angles(np.array([0.0, 0.0, 1.0]))
        self.t0 = sim.time
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []           # s of simulated time since the start

    def capture(self) -> None:
        """Render a frame if ``1 / fps`` of simulated time passed since the last one."""
        t = self.sim.time - self.t0
        if self.times and t < self.times[-1] + self.period:
            return
        self.renderer.update_scene(self.sim.data, self.camera)
        self.frames.append(self.renderer.render().copy())
        self.times.append(t)

    def save(self, path: Path, rotation_t, rotation_rad, axis_world, fell_at_s: float | None) -> Path:
        """The video at ``path`` (.mp4 or .gif); ``rotation_*``: the rotation about the axis over
        time (s since the start, rad), drawn on each frame."""
        self.renderer.close()
        turned = np.interp(self.times, rotation_t, rotation_rad) if len(rotation_t) else np.zeros(len(self.times))
        rec = render.Recording(frames=[[f] for f in self.frames], times=[round(t / CONTROL_DT) for t in self.times],
                               fell_at={0: None if fell_at_s is None else round(fell_at_s / CONTROL_DT)},
                               rotation=[[r] for r in turned], axes=[axis_label(np.asarray(axis_world, float))])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        (render.save_gif if path.suffix == ".gif" else render.save_mp4)(rec, path, self.fps)
        return path
