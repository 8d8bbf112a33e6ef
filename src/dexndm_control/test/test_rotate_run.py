"""``dexndm rotate``: rotation about the axis, time to fall, plot and summary."""
import json

import numpy as np
import pytest

from dexndm_control import cli
from dexndm_control.commands.rotate_run import rotation_angle, time_to_fall
from dexndm_control.testing.policies import constant_policy


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_rotation_angle_integrates_the_angular_velocity_about_the_axis():
    t = np.linspace(0.0, 2.0, 201)
    omega = np.tile([0.3, 0.0, 1.5], (len(t), 1))
    np.testing.assert_allclose(rotation_angle(t, omega, [0.0, 0.0, 1.0])[-1], 3.0)
    np.testing.assert_allclose(rotation_angle(t, omega, [0.0, 0.0, -1.0])[-1], -3.0)
    assert len(rotation_angle([], [], [0, 0, 1])) == 0


def test_time_to_fall_is_the_first_6cm_displacement():
    t = np.arange(10) * 0.1
    pos = np.zeros((10, 3))
    assert time_to_fall(t, pos) is None
    pos[7:, 2] = -0.061
    assert time_to_fall(t, pos) == pytest.approx(0.7)


@pytest.mark.parametrize("action, falls", [(0.0, False), (-1.0, True)], ids=["still", "opening"])
def test_cli_rotate_on_the_simulated_hand_measures_what_the_hand_does(tmp_path, capsys, action, falls):
    """Palm down: a hand that keeps its grasp (zero actions, a zero residual) holds the object and
    barely turns it; a hand that opens (every target moving to its lower limit) drops it."""
    base = constant_policy(tmp_path / "base.pt", "base", action)
    residual = constant_policy(tmp_path / "residual.pt", "residual", 0.0)
    out = tmp_path / "out"
    assert cli.main(["rotate", "--sim", "--wrist", "palm_down", "--base", str(base), "--residual", str(residual),
                     "--duration", "3", "--axis", "0", "0", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "rotate.json").read_text())
    assert summary["targets_published"] > 20
    if falls:
        assert summary["time_to_fall_s"] is not None and 0 < summary["time_to_fall_s"] < 3
        assert f"time to fall: {summary['time_to_fall_s']:.2f} s" in printed
    else:
        assert summary["time_to_fall_s"] is None and "no fall" in printed
        assert abs(summary["rotation_rad"]) < 0.2
    assert (out / "rotate.png").stat().st_size > 10_000


def test_cli_rotate_writes_a_video_of_the_simulated_hand(tmp_path, capsys):
    import imageio.v3 as iio

    base = constant_policy(tmp_path / "base.pt", "base", 0.0)
    argv = ["rotate", "--sim", "--base", str(base), "--duration", "2", "--out", str(tmp_path / "out"), "--video"]
    assert cli.main(argv) == 0
    result = json.loads((tmp_path / "out" / "rotate.json").read_text())
    frames = iio.imread(result["video"])                        # decoded back: an H.264 MP4 of the run
    assert result["video"].endswith("rotate.mp4") and frames.shape[1:] == (320, 320, 3)
    assert 10 <= len(frames) <= 21                              # 10 frames per simulated second
    assert frames[-1].astype(float).std() > 10                  # the hand and the object, not a blank frame
    capsys.readouterr()
    assert cli.main(argv[:1] + argv[2:]) == 2                   # no --sim: nothing to render
    assert "add --sim" in capsys.readouterr().err


@pytest.mark.parametrize("duration", ["0", "-1", "nan"])
def test_cli_rotate_refuses_a_duration_that_is_not_positive_before_starting(tmp_path, capsys, duration):
    out = tmp_path / "out"
    assert cli.main(["rotate", "--sim", "--duration", duration, "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (f"dexndm: error: --duration must be a positive number of seconds, "
                                               f"got {float(duration)}")
    assert not out.exists()


def test_cli_rotate_records_a_bag_with_the_hands_scene(tmp_path):
    """``--record``: a rosbag2 MCAP of the run that rosbags, the mcap library (Foxglove's reader)
    and the NDM ingest all read, with the URDF and the hand's frames for Foxglove."""
    from mcap.reader import make_reader
    from rosbags.rosbag2 import Reader

    from dexndm_learning.ndm.bag_ingest import load_bags
    from dexndm_learning.ndm.config import IngestConfig

    base = constant_policy(tmp_path / "base.pt", "base", 0.0)
    assert cli.main(["rotate", "--sim", "--base", str(base), "--duration", "2", "--out", str(tmp_path / "out"),
                     "--record", str(tmp_path / "bag")]) == 0
    bag = tmp_path / "bag" / "bag_00000"
    with Reader(bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts["/robot_description"] == 1 and counts["/tf"] == counts["/leap_hand/joint_states"] > 100
    assert counts["/leap_hand/joint_commands"] >= 30 and counts["/sim/object_pose"] > 0     # 20 Hz policy
    with open(next(bag.glob("*.mcap")), "rb") as f:
        assert {c.topic for _, c, _ in make_reader(f).iter_messages()} >= {"/tf", "/robot_description"}
    steps, errors = load_bags(bag, IngestConfig(marker_topic=""))
    assert errors == [] and len(steps) >= 30                   # the policy's steps, for an NDM
