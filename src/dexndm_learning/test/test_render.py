import numpy as np
import pytest

from dexndm_learning.rl import render
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig, RotationEnv


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize("up, expected_elevation", [([0, 0, 1], -60.0), ([0, 0, -1], 60.0)])
def test_camera_sits_on_the_view_side_tilted_by_30_degrees(up, expected_elevation):
    azimuth, elevation = render.camera_angles(np.array(up, float))
    assert elevation == pytest.approx(expected_elevation)
    el, az = np.deg2rad(elevation), np.deg2rad(azimuth)
    forward = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    assert np.degrees(np.arccos(np.dot(-forward, up))) == pytest.approx(30.0)


def test_rendered_episode_shows_the_hand_moving_and_writes_png_mp4_and_gif(tmp_path):
    env = RotationEnv(EnvConfig(num_envs=2, wrists=["palm_up"], disturbance_prob=0.0, joint_noise=0.0,
                                randomization=RandomizationConfig(enabled=False), grasp=GraspConfig(candidates=16)))
    rng = np.random.default_rng(0)
    try:
        rec = render.record(env, lambda obs: rng.uniform(-1, 1, (2, 16)), [0, 1], steps=12, every=4, size=96)
    except Exception as exc:  # no OpenGL backend on this machine (MUJOCO_GL)
        if "gl" in type(exc).__name__.lower() or "gl" in str(exc).lower():
            pytest.skip(f"no offscreen OpenGL: {exc}")
        raise
    assert rec.times == [0, 4, 8] and len(rec.frames) == 3 and all(len(row) == 2 for row in rec.frames)
    first, last = rec.frames[0][0].astype(float), rec.frames[-1][0].astype(float)
    assert first.shape == (96, 96, 3) and first.std() > 10        # the hand and object, not a blank frame
    assert np.abs(last - first).mean() > 0.5                      # random actions move the fingers
    assert all(a in ("+z", "-z") for a in rec.axes)
    assert np.all(rec.rotation[0] == 0) and np.any(rec.rotation[-1] != 0)
    render.save_contact_sheet(rec.frames, rec.times, ["a", "b"], tmp_path / "sheet.png", "t")
    render.save_mp4(rec, tmp_path / "ep.mp4", fps=5)
    render.save_gif(rec, tmp_path / "ep.gif", fps=5)
    import imageio.v2 as imageio
    from PIL import Image

    video = imageio.mimread(tmp_path / "ep.mp4")                  # decoded back with ffmpeg
    assert len(video) == 3 and video[0].shape == (96, 192, 3)
    drawn = np.abs(video[0].astype(float) - np.concatenate(rec.frames[0], axis=1)).max(axis=2)
    assert drawn[:24, :60].mean() > drawn[48:, :].mean() + 5     # the time/axis/rotation text, top left
    gif = Image.open(tmp_path / "ep.gif")
    assert gif.n_frames == 3 and gif.size == (192, 96)
    assert (tmp_path / "sheet.png").stat().st_size > 1000
