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


def test_rendered_episode_shows_the_hand_moving_and_writes_png_and_gif(tmp_path):
    env = RotationEnv(EnvConfig(num_envs=2, wrists=["palm_up"], disturbance_prob=0.0, joint_noise=0.0,
                                randomization=RandomizationConfig(enabled=False), grasp=GraspConfig(candidates=16)))
    rng = np.random.default_rng(0)
    try:
        frames, times, _ = render.record(env, lambda obs: rng.uniform(-1, 1, (2, 16)), [0, 1], steps=12, every=4,
                                         size=96)
    except Exception as exc:  # no OpenGL backend on this machine (MUJOCO_GL)
        if "gl" in type(exc).__name__.lower() or "gl" in str(exc).lower():
            pytest.skip(f"no offscreen OpenGL: {exc}")
        raise
    assert times == [0, 4, 8] and len(frames) == 3 and all(len(row) == 2 for row in frames)
    first, last = frames[0][0].astype(float), frames[-1][0].astype(float)
    assert first.shape == (96, 96, 3) and first.std() > 10        # the hand and object, not a blank frame
    assert np.abs(last - first).mean() > 0.5                      # random actions move the fingers
    render.save_contact_sheet(frames, times, ["a", "b"], tmp_path / "sheet.png", "t")
    render.save_gif(frames, tmp_path / "ep.gif", fps=5)
    from PIL import Image

    gif = Image.open(tmp_path / "ep.gif")
    assert gif.n_frames == 3 and gif.size == (192, 96)
    assert (tmp_path / "sheet.png").stat().st_size > 1000
