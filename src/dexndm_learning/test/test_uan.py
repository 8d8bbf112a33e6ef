"""UAN's compensator (baselines.uan): on a toy gap (a hand with 60 % of the nominal P gains) the
nominal sim with the compensator in the loop tracks held-out recordings better than without."""
from __future__ import annotations

import numpy as np
import torch

from dexndm_learning.baselines import uan
from dexndm_learning.cli import main as cli_main
from dexndm_learning.data.wave_targets import WaveConfig, wave_targets
from dexndm_learning.sim.reality import RealityProfile
from test_sysid import probe_steps

WAVES = WaveConfig(steps=60, w_low=1.0, w_high=3.0)


def test_features_are_errors_then_velocities_per_joint():
    desired = np.zeros((1, 4, 16))
    q = np.zeros((1, 4, 16))
    desired[0, :, 3] = [0.1, 0.2, 0.3, 0.4]
    q[0, :, 3] = [0.0, 0.05, 0.15, 0.3]
    f = uan.features(desired, q, velocity_scale=1.0)
    assert f.shape == (1, 16, 6)
    np.testing.assert_allclose(f[0, 3, :3], [0.15, 0.15, 0.1], atol=1e-6)          # errors, newest last
    np.testing.assert_allclose(f[0, 3, 3:], [1.0, 2.0, 3.0], atol=1e-5)            # (q_k - q_k-1) / 0.05
    assert np.all(f[0, 0] == 0)


def test_the_compensator_recovers_a_gain_gap_on_held_out_waves(tmp_path):
    gap = RealityProfile(kp_scale=0.6)
    train, _, _ = wave_targets(32, WAVES, seed=0)
    held, _, _ = wave_targets(16, WAVES, seed=1)
    cfg = uan.UanConfig(rounds=2, epochs=8)
    result = uan.fit(probe_steps(gap, train), cfg, progress=False)
    assert result.error.mean() < 0.6 * result.nominal_error.mean()
    replay = uan.FreeHandReplay(probe_steps(gap, held), cfg)
    with_c = replay.tracking_error(replay.run(result.compensator, label=False)["q"]).mean()
    without = replay.tracking_error(replay.run(None, label=False)["q"]).mean()
    assert with_c < 0.6 * without, (with_c, without)
    uan.save(result, cfg, "v1", tmp_path / "c.pt")
    model, cfg2 = uan.load(tmp_path / "c.pt")
    x = torch.randn(3, 16, 2 * cfg.history)
    torch.testing.assert_close(model(x), result.compensator(x))
    assert cfg2 == cfg


def test_the_command_fits_from_a_steps_file_and_rejects_bad_settings(tmp_path, capsys):
    steps = probe_steps(RealityProfile(kp_scale=0.8), wave_targets(4, WAVES, seed=2)[0])
    steps.save(tmp_path / "waves.npz")
    out = tmp_path / "uan"
    assert cli_main(["fit-uan", "--steps", str(tmp_path / "waves.npz"), "--out", str(out),
                     "--set", "rounds=1", "epochs=1"]) == 0
    assert (out / "compensator.pt").exists() and (out / "report.json").exists()
    assert cli_main(["fit-uan", "--steps", str(tmp_path / "waves.npz"), "--out", str(out),
                     "--set", "round=1"]) == 2
    assert "round" in capsys.readouterr().err


def test_missing_steps_are_one_line(tmp_path, capsys):
    assert cli_main(["fit-uan", "--steps", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.npz" in capsys.readouterr().err
