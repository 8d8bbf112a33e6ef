"""Artifacts record the hand version they were made on and are refused on another one."""
from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_learning.data.episode_bank import EpisodeBank
from dexndm_learning.config import repo_root
from dexndm_learning.data.rollout_dataset import RolloutDataset, RolloutWriter
from dexndm_learning.policy.artifact import PolicySpec, load_policy, save_policy
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.sim import grasps
from dexndm_learning.sim.hand_model import HandConfig, HandVersionError, check_hand_version, hand_spec

MODELS = (repo_root() or Path(".")) / "models"


def _dataset(root, hand_version=None, steps=3):
    meta = {"specialist": "s"} if hand_version is None else {"specialist": "s", "hand_version": hand_version}
    writer = RolloutWriter(root, steps=steps, meta=meta)
    writer.add(q=np.zeros((steps + 1, 16)), targets=np.zeros((steps + 1, 16)), actions=np.zeros((steps, 16)),
               obj_pos=np.zeros((steps + 1, 3)), obj_quat=np.tile([1.0, 0, 0, 0], (steps + 1, 1)),
               axis=np.array([0, 0, 1.0]), wrist=np.array([1.0, 0, 0, 0]), object_id=0)
    writer.close()


def test_the_error_names_both_versions():
    with pytest.raises(HandVersionError, match=r"policy x\.pt was made on hand v1, but this hand is v2"):
        check_hand_version(None, "v2", "policy x.pt")
    check_hand_version("v2", "v2", "policy x.pt")


def test_unknown_version_is_named():
    with pytest.raises(ValueError, match="unknown hand version 'v3'"):
        hand_spec(HandConfig(version="v3"))


def test_committed_generalist_loads_as_v2_and_is_refused_on_v1():
    policy = load_policy(MODELS / "generalist" / "base.pt")
    assert policy.spec.hand_version == "v2" == HandConfig.load().version
    policy.check_hand("v2", "base.pt")
    with pytest.raises(HandVersionError, match="made on hand v2, but this hand is v1"):
        policy.check_hand("v1", "base.pt")


@pytest.mark.parametrize("name", ["cyl_palm_up", "cyl_palm_down", "cyl_random_wrist", "cuboid_palm_up"])
def test_committed_specialists_were_made_on_v1(name):
    state = torch.load(MODELS / "specialists" / name / "checkpoint.pt", weights_only=False)
    check_hand_version(state.get("hand_version"), "v1", name)
    with pytest.raises(HandVersionError):
        check_hand_version(state.get("hand_version"), "v2", name)


def test_policy_artifact_records_its_version(tmp_path):
    net = ResidualMLP(8, 16, 16, 1)
    save_policy(tmp_path / "p.pt", "base", net, PolicySpec(10, np.zeros(8), np.ones(8), 1 / 24, hand_version="v2"))
    policy = load_policy(tmp_path / "p.pt")
    assert policy.spec.hand_version == "v2"
    with pytest.raises(HandVersionError, match="made on hand v2, but this hand is v1"):
        policy.check_hand("v1", tmp_path / "p.pt")


def test_datasets_record_the_version_and_are_not_mixed_or_continued_on_another(tmp_path):
    _dataset(tmp_path / "old")                      # written before versions: v1
    _dataset(tmp_path / "new", hand_version="v2")
    assert RolloutDataset.open(tmp_path / "old").hand_version == "v1"
    assert RolloutDataset.open(tmp_path / "new").hand_version == "v2"
    assert EpisodeBank([tmp_path / "new"]).hand_version == "v2"
    with pytest.raises(HandVersionError, match=r"new .*made on hand v2, but this hand is v1"):
        EpisodeBank([tmp_path / "old", tmp_path / "new"])
    with pytest.raises(HandVersionError, match="made on hand v2, but this hand is v1"):
        RolloutWriter(tmp_path / "new", steps=3, meta={"hand_version": "v1"}, resume=True)


def test_grasp_cache_records_the_version(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path))
    made = grasps.GraspSet(states=np.zeros((2, 5)), targets=np.zeros((2, 16)), wrists=np.zeros((2, 4)))
    grasps.cached(["k"], lambda: made, "x", hand_version="v2")
    assert len(grasps.cached(["k"], lambda: 1 / 0, "x", hand_version="v2")) == 2
    with pytest.raises(HandVersionError, match="grasp cache .* made on hand v2, but this hand is v1"):
        grasps.cached(["k"], lambda: made, "x", hand_version="v1")


def test_grasp_key_changes_with_the_hand_geometry():
    """Editing a shape without touching the config must not reuse grasps made on the old one."""
    a = hand_spec(HandConfig(version="v2"))
    b = hand_spec(HandConfig(version="v2"))
    b.geom("if_ds_pad0").size = [0.01, 0.012, 0.0115]
    assert grasps.model_fingerprint(a.compile()) == grasps.model_fingerprint(hand_spec(HandConfig(version="v2")).compile())
    assert grasps.model_fingerprint(a.compile()) != grasps.model_fingerprint(b.compile())


def test_scenes_built_without_a_hand_config_use_the_configured_hand(monkeypatch):
    from dexndm_learning.sim import chaos_box, hand_model
    from dexndm_learning.sim.hand_sim import HandSim

    monkeypatch.setattr(hand_model.HandConfig, "load", classmethod(lambda cls, *a, **k: cls(version="v2")))
    assert HandSim().cfg.version == "v2"
    v1, v2 = (hand_spec(HandConfig(version=v)).compile().ngeom for v in ("v1", "v2"))   # v2 adds pads
    assert v1 != v2 and hand_spec().compile().ngeom == v2
    box = chaos_box.chaos_box_spec(None, "palm_up", "strapped").compile().ngeom
    assert box == chaos_box.chaos_box_spec(HandConfig(version="v2"), "palm_up", "strapped").compile().ngeom
    assert box != chaos_box.chaos_box_spec(HandConfig(version="v1"), "palm_up", "strapped").compile().ngeom
    assert chaos_box.ChaosBoxSim(chaos_box.chaos_box_spec(None, "palm_up", "strapped")).cfg.version == "v2"


def test_every_committed_specialist_config_names_the_hand_its_checkpoint_trained_on():
    """So that the default hand (config/hand.yaml) can change without a committed run being
    evaluated or resumed on another hand."""
    from dexndm_learning.rl.specialist import run_config, run_hand_version

    runs = sorted(p.parent for p in [*MODELS.glob("specialists/*/checkpoint.pt"), *MODELS.glob("learner/*/checkpoint.pt")])
    assert len(runs) > 10
    for run in runs:
        env, trained = run_config(run).env, run_hand_version(run)
        other_default = {"version": "v2" if trained == "v1" else "v1"}      # config/hand.yaml switched
        assert HandConfig.load(env.hand, {**other_default, **env.hand_overrides}).version == trained, run.name
