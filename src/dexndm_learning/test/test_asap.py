"""ASAP's delta-action model (baselines.asap): on a toy gap (a hand with 60 % of the nominal P
gains, the committed specialist (a) rotating cylinders in it) the nominal sim driven by the
recorded commands plus the model's correction reaches held-out recorded next states better than
without."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from dexndm_learning.baselines import asap
from dexndm_learning.rl.evaluate import specialist_actor
from dexndm_learning.sim.rotation_env import RandomizationConfig, RotationEnv

SPECIALIST = Path(__file__).resolve().parents[3] / "models" / "specialists" / "cyl_palm_up"


def _split(tr: asap.Transitions, ids: np.ndarray) -> asap.Transitions:
    return asap.Transitions(**{f.name: getattr(tr, f.name)[ids] for f in dataclasses.fields(tr)})


def test_the_delta_model_recovers_a_gain_gap_on_held_out_steps(tmp_path):
    (tmp_path / "gap.yaml").write_text("kp_scale: 0.6\n")
    still = {"randomization": RandomizationConfig(enabled=False)}
    target, act = specialist_actor(SPECIALIST, 8, 0, {"reality": str(tmp_path / "gap.yaml"), **still})
    tr = asap.record(target, act, 80)
    assert len(tr) > 500 and tr.inputs.shape[1] == asap.INPUTS
    nominal = RotationEnv(dataclasses.replace(target.cfg, reality="nominal"))
    cfg = asap.AsapConfig(epochs=20)
    twins = asap.NominalTwins(nominal, cfg)
    order = np.random.default_rng(0).permutation(len(tr))
    train, held = _split(tr, np.sort(order[: len(tr) * 4 // 5])), _split(tr, np.sort(order[len(tr) * 4 // 5:]))
    model = asap.fit(twins, train, cfg)
    without, with_model = asap.one_step_error(twins, held, None).mean(), asap.one_step_error(twins, held, model).mean()
    twins.close()
    assert with_model < 0.7 * without, (with_model, without)
    with torch.no_grad():
        assert float(model(torch.as_tensor(held.inputs[:64], dtype=torch.float32)).abs().max()) <= cfg.max_delta


def test_worlds_hold_one_recorded_state_at_a_time():
    batches = asap.one_per_world(np.array([0, 1, 0, 2, 0, 1]))
    assert [list(b) for b in batches] == [[0, 1, 3], [2, 5], [4]]


def test_the_command_fits_from_the_generalists_steps_in_a_profile(tmp_path):
    from dexndm_learning.cli import main as cli_main

    (tmp_path / "gap.yaml").write_text("kp_scale: 0.6\n")
    out = tmp_path / "asap"
    assert cli_main(["fit-asap", "--base", str(SPECIALIST.parents[1] / "generalist" / "base.pt"),
                     "--reality", str(tmp_path / "gap.yaml"), "--num-envs", "4", "--steps", "40", "--out", str(out),
                     "--set", "epochs=2"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["transitions"] > 100 and report["held_out"] > 20 and "one_step_error_mrad" in report
    assert isinstance(asap.load(out / "delta_model.pt"), asap.DeltaActionModel)
