"""``dexndm-learn build-generalist``: the generalist's steps from a YAML list of teachers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from dexndm_learning.baselines import uan
from dexndm_learning.bc import pipeline
from dexndm_learning.config import ConfigError
from dexndm_learning.data.episode_bank import named_wrist_index
from dexndm_learning.policy.artifact import load_policy
from dexndm_learning.policy.fakes import random_policy
from dexndm_learning.sim.hand_model import HandVersionError
from dexndm_learning.sim.wrist import NAMED_WRISTS, random_wrist_quats, to_wxyz, wrist_rotation

ROOT = Path(__file__).resolve().parents[3]


def test_the_shipped_recipe_is_the_committed_generalists_steps():
    steps = pipeline.plan(pipeline.GeneralistRecipe.load("generalist"), Path("d"), Path("r"))
    assert [s.name for s in steps][:5] == ["cyl_palm_up", "cyl_palm_up_plusz", "cyl_palm_down", "bc",
                                           "dagger1_cyl_palm_up"]
    assert len(steps) == 3 + 1 + 5 * 3 + 1
    by_name = {s.name: s.argv for s in steps}
    assert "--axis-set=+z" in by_name["cyl_palm_up_plusz"] and "dagger1_cyl_palm_up_plusz" not in by_name
    assert by_name["dagger3_cyl_palm_down"][by_name["dagger3_cyl_palm_down"].index("--seed") + 1] == "23"
    assert by_name["dagger3_cyl_palm_down"][-1] == "r/dagger2/policy.pt"
    epochs = [by_name[f"dagger{r}"][by_name[f"dagger{r}"].index("--epochs") + 1] for r in range(1, 6)]
    assert epochs == ["12", "12", "12", "20", "20"]
    final = by_name["final"]
    assert final[final.index("--lr") + 1] == "0.0001" and final[-2:] == ["--init", "r/dagger5/policy.pt"]
    assert sum(a.startswith("d/") for a in final) == 3 + 5 * 2          # every dataset so far
    assert by_name["bc"][by_name["bc"].index("--width") + 1] == "512"


def test_a_recipe_without_teachers_or_with_an_unknown_key_names_the_field(tmp_path):
    (tmp_path / "a.yaml").write_text("teachers: []\n")
    with pytest.raises(ValueError, match="teachers"):
        pipeline.GeneralistRecipe.load(str(tmp_path / "a.yaml"))
    (tmp_path / "b.yaml").write_text("teachers: [{name: a, run: x, episode: 3}]\n")
    with pytest.raises(ConfigError, match="episode"):
        pipeline.GeneralistRecipe.load(str(tmp_path / "b.yaml"))


def test_wrist_groups_for_balancing_name_the_six_wrists_and_lump_random_ones():
    named = np.array([to_wxyz(wrist_rotation(w)) for w in NAMED_WRISTS])
    rnd = random_wrist_quats(50, np.random.default_rng(0))
    idx = named_wrist_index(np.concatenate([named, -named, rnd]))
    assert list(idx[:12]) == list(range(6)) * 2 and (idx[12:] == -1).all()


def test_a_tiny_build_runs_end_to_end_and_a_rerun_skips_every_finished_step(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    recipe = {"teachers": [{"name": "a", "run": "models/specialists/cyl_palm_up", "episodes": 3, "seed": 1}],
              "num_envs": 4, "width": 32, "blocks": 1, "samples_per_epoch": 256,
              "bc": {"epochs": 1}, "dagger": {"rounds": 1, "episodes": 4, "epochs": [1]}, "final": {"epochs": 1}}
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(recipe))
    args = ["--config", str(cfg), "--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs")]
    assert pipeline.main(args) == 0
    policy = load_policy(tmp_path / "runs" / "final" / "policy.pt")
    assert policy.spec.history == 10
    assert (tmp_path / "data" / "dagger1_a.done").exists()

    def refuse(step):
        raise AssertionError(f"{step.name} ran again")
    monkeypatch.setattr(pipeline, "run_step", refuse)
    assert pipeline.main(args) == 0
    recipe["bc"]["epochs"] = 2                       # another recipe into the same folders: refused
    cfg.write_text(yaml.safe_dump(recipe))
    with pytest.raises(ValueError, match="step 'bc' was made by another command"):
        pipeline.main(args)


def test_teachers_on_different_hand_versions_are_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    recipe = {"teachers": [{"name": "old", "run": "models/specialists/cyl_palm_up"},
                           {"name": "new", "run": "models/specialists/cyl_palm_up_upright_plusz"}]}
    cfg = tmp_path / "mixed.yaml"
    cfg.write_text(yaml.safe_dump(recipe))

    def refuse(step):
        raise AssertionError(f"{step.name} ran")
    monkeypatch.setattr(pipeline, "run_step", refuse)
    with pytest.raises(HandVersionError, match=r"old \(models/specialists/cyl_palm_up\) on v1, new .* on v2"):
        pipeline.main(["--config", str(cfg), "--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs")])
    recipe["teachers"].pop(0)
    recipe["init"] = str(random_policy(tmp_path / "old.pt", "base", hand_version="v1"))   # the teachers are v2
    cfg.write_text(yaml.safe_dump(recipe))
    with pytest.raises(HandVersionError, match="init .*old.pt was made on hand v1, but the teachers trained on v2"):
        pipeline.main(["--config", str(cfg), "--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs")])
    recipe.pop("init")
    uan.save(uan.UanResult(uan.Compensator(uan.UanConfig(hidden=[4])), np.zeros(16), np.zeros(16), []),
             uan.UanConfig(hidden=[4]), "v1", tmp_path / "uan.pt")
    recipe["command_model"] = str(tmp_path / "uan.pt")         # fitted on v1
    cfg.write_text(yaml.safe_dump(recipe))
    with pytest.raises(HandVersionError, match="command model .*uan.pt was made on hand v1"):
        pipeline.main(["--config", str(cfg), "--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs")])
    assert not (tmp_path / "data").exists()


def test_the_rebuild_recipe_names_committed_teachers_all_on_hand_v2(monkeypatch):
    monkeypatch.chdir(ROOT)
    recipe = pipeline.GeneralistRecipe.load("generalist_all")
    assert all((Path(t.run) / "checkpoint.pt").is_file() for t in recipe.teachers)
    assert pipeline.check_one_hand(recipe, "generalist_all") == "v2"


def test_a_teacher_restricted_to_some_of_its_wrists_collects_under_those_only(tmp_path, monkeypatch):
    from dexndm_learning.bc import collect

    monkeypatch.chdir(ROOT)
    teacher = {"name": "x", "run": "models/specialists/cyl_six_wrists_plusx", "wrists": ["base_up", "base_down"]}
    cfg = tmp_path / "r.yaml"
    cfg.write_text(yaml.safe_dump({"teachers": [teacher], "dagger": {"rounds": 1, "epochs": [1]}}))
    by_name = {s.name: s.argv for s in pipeline.plan(pipeline.GeneralistRecipe.load(str(cfg)), Path("d"), Path("r"))}
    for name in ("x", "dagger1_x"):
        i = by_name[name].index("--wrists")
        assert by_name[name][i + 1:i + 3] == ["base_up", "base_down"]

    seen, unseen = {}, []

    class Env:                                      # stands in for the teacher's environment
        def objects_without_grasps(self, wrists):
            seen["others"] = wrists
            return unseen

    def actor(run, num_envs, seed, env_overrides=None):
        seen.update(env_overrides)
        return Env(), None
    monkeypatch.setattr(collect, "specialist_actor", actor)
    monkeypatch.setattr(collect, "collect", lambda *a, **k: {})
    argv = ["--run", teacher["run"], "--out", str(tmp_path / "x")]
    collect.main(argv + by_name["x"][by_name["x"].index("--wrists"):])
    assert seen == {"wrists": ["base_up", "base_down"], "others": ["palm_up", "palm_down", "thumb_up", "thumb_down"]}
    unseen.append("cyl_3")                          # an object the teacher's six-wrist env left out
    with pytest.raises(ValueError, match=r"never trained on \['cyl_3'\]: they have no start grasp under"):
        collect.main(argv + ["--wrists", "base_up"])
    with pytest.raises(ValueError, match=r"--wrists: .*cyl_six_wrists_plusx did not train under \['sideways'\]"):
        collect.main(argv + ["--wrists", "base_up", "sideways"])
    with pytest.raises(ValueError, match="names a wrist twice"):
        collect.main(argv + ["--wrists", "base_up", "base_up"])

    def refuse(step):
        raise AssertionError(f"{step.name} ran")
    monkeypatch.setattr(pipeline, "run_step", refuse)
    teacher["wrists"] = ["base_up", "sideways"]
    cfg.write_text(yaml.safe_dump({"teachers": [teacher]}))
    with pytest.raises(ValueError, match=r"teacher 'x': wrists: models/specialists/cyl_six_wrists_plusx did not "
                                         r"train under \['sideways'\]"):
        pipeline.main(["--config", str(cfg), "--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs")])
    with pytest.raises(ValueError, match="is empty"):
        collect.check_wrists(Path(teacher["run"]), [])


def test_a_resumed_collection_draws_new_episodes_not_the_ones_it_kept(tmp_path, monkeypatch):
    from dexndm_learning.bc import collect
    from dexndm_learning.data.rollout_dataset import RolloutDataset

    monkeypatch.chdir(ROOT)
    argv = ["--run", "models/specialists/cyl_palm_up", "--out", str(tmp_path / "ds"), "--num-envs", "2", "--seed", "3",
            "--resume"]
    collect.main(argv + ["--episodes", "2"])
    collect.main(argv + ["--episodes", "4"])
    ds = RolloutDataset.open(tmp_path / "ds")
    starts = np.concatenate([s["q"][:, 0] for s in ds.iter_shards(("q",))])
    assert ds.episodes == 4 and len(np.unique(starts.round(6), axis=0)) == 4
