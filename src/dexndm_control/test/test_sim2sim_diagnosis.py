"""The stage-by-stage diagnosis of a sim2sim run (dexndm_learning.studies.sim2sim_diagnosis) on
tiny runs: the nominal twin reproduces a world without a gap, and every stage is reported."""
import json

import numpy as np
import pytest

from dexndm_control.commands import sim2sim_pipeline
from dexndm_control.testing.policies import random_policy
from dexndm_learning.policy.artifact import load_policy
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig
from dexndm_learning.studies import sim2sim_diagnosis


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diag")
    base = random_policy(root / "base.pt", "base")
    out = {}
    for profile in ("nominal", "worn_hand"):
        out[profile] = root / profile
        sim2sim_pipeline.run(profile, out[profile], "tiny", base, rollouts_dir=root / "rollouts", rollout_steps=40,
                             box_trajectories=6, ndm_ensemble=2, ensemble_whole=True, gate_quantile=0.9,
                             disagreement_weight=0.5)
    return out


def test_the_twin_reproduces_a_world_without_a_gap_and_not_one_with_a_gap(runs):
    nominal = sim2sim_diagnosis.diagnose(runs["nominal"], envs=2, steps=12, bag_windows=50)
    worn = sim2sim_diagnosis.diagnose(runs["worn_hand"], envs=2, steps=12, bag_windows=50)
    assert nominal["tracking"]["direct"] < 1e-4     # the target world is the simulator (solver warm start aside)
    assert worn["tracking"]["direct"] > 10 * nominal["tracking"]["direct"], worn["tracking"]   # weaker, late, sticky
    assert set(worn["tracking"]) == {"direct", "joint", "whole", "robust"}


def test_every_stage_is_reported_and_summarized(runs, tmp_path):
    assert sim2sim_diagnosis.main([str(runs["worn_hand"]), "--envs", "2", "--steps", "12",
                                   "--summary", str(tmp_path / "diag.md")]) == 0
    result = json.loads((runs["worn_hand"] / "diagnosis" / "diagnosis.json").read_text())
    assert set(result["ndm"]) == {"joint", "whole", "ensemble"}
    for model in result["ndm"].values():
        assert set(model) == {"chaos_box", "direct", "joint", "whole", "robust"}
        assert np.isfinite(model["chaos_box"]["one_step"]) and model["chaos_box"]["n"] > 0
    assert np.isfinite(result["ndm"]["ensemble"]["chaos_box"]["spread"])
    gate = load_policy(runs["worn_hand"] / "residual_robust" / "residual.pt").gate
    assert len(gate.ensemble.members) == 3 and gate.ensemble.predictors == 2     # 2 joint-wise seeds + whole
    assert len(result["sensitivity"]) == sim2sim_diagnosis.LAGS and all(s >= 0 for s in result["sensitivity"])
    assert result["latency_steps"] == 1                            # worn_hand's
    assert set(result["predicted_gain"]) == set(result["measured_gain"]) == {"joint", "whole", "robust"}
    assert (runs["worn_hand"] / "diagnosis" / "diagnosis.png").stat().st_size > 0
    assert "| worn_hand | 1 |" in (tmp_path / "diag.md").read_text()
    with pytest.raises(SystemExit):
        sim2sim_diagnosis.main([str(tmp_path)])                    # not a finished run


def test_the_command_response_comes_after_the_latency_and_a_blind_model_predicts_none(runs):
    result = sim2sim_diagnosis.diagnose(runs["worn_hand"], envs=2, steps=16, bag_windows=50)["command_response"]
    n = sim2sim_diagnosis.RESPONSE_HOLD + sim2sim_diagnosis.RESPONSE_AFTER
    assert len(result["true_rms"]) == n and result["envs"] > 0
    assert result["true_rms"][0] == 0.0 and result["true_rms"][1] > 1e-3      # worn_hand: latency 1
    assert all(np.isfinite(result["joint"]["slope"][1:])) and all(np.isfinite(result["whole"]["slope"][1:]))
    assert sim2sim_diagnosis.first_effective(result, "joint") == result["joint"]["slope"][1]

    nominal = sim2sim_diagnosis.diagnose(runs["nominal"], envs=2, steps=16, bag_windows=50)["command_response"]
    assert nominal["true_rms"][0] > 1e-3                                      # no latency: the next step moves

    profile = runs["worn_hand"] / "diagnosis" / "worn_hand.yaml"
    env_cfg = EnvConfig(num_envs=2, axis_set="z", episode_steps=16, seed=1000,
                        randomization=RandomizationConfig(enabled=False), grasp=GraspConfig(candidates=8))
    blind = lambda x: x[:, -1, :, 0]                                          # noqa: E731  ignores the commands
    base = runs["worn_hand"].parent / "base.pt"
    same = sim2sim_diagnosis.command_response(env_cfg, str(profile), base, {"blind": blind}, 10, [9], delta=0.0)
    assert same["true_rms"] == [0.0] * n                                      # the two copies run in lockstep
    moved = sim2sim_diagnosis.command_response(env_cfg, str(profile), base, {"blind": blind}, 10, [9])
    assert moved["blind"]["slope"][1:] == [0.0] * (n - 1)
