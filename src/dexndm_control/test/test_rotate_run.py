"""``dexndm rotate``: rotation about the axis, time to fall, plot and summary."""
import json

import numpy as np
import pytest

from dexndm_control import cli
from dexndm_control.rotate_run import rotation_angle, time_to_fall
from dexndm_control.testing.policies import random_policy


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


def test_cli_rotate_on_the_simulated_hand_writes_plot_and_summary(tmp_path, capsys):
    base = random_policy(tmp_path / "base.pt", "base")
    residual = random_policy(tmp_path / "residual.pt", "residual")
    out = tmp_path / "out"
    assert cli.main(["rotate", "--sim", "--wrist", "palm_up", "--base", str(base), "--residual", str(residual),
                     "--duration", "2.5", "--axis", "0", "0", "1", "--out", str(out)]) == 0
    assert "rotation about the axis:" in capsys.readouterr().out
    summary = json.loads((out / "rotate.json").read_text())
    assert isinstance(summary["rotation_rad"], float) and summary["targets_published"] > 20
    assert (out / "rotate.png").stat().st_size > 10_000
