"""``dexndm sim2sim`` end to end at the tiny size (a random base policy): the table of the three
variants on training and test objects, reuse of finished phases, refusal of other settings, and
a custom reality profile file with the free-hand and noise ablations and NDM pretraining."""
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from dexndm_control import cli
from dexndm_control.commands import sim2sim_pipeline
from dexndm_control.commands.sim2sim_config import PRESETS
from dexndm_control.chaos_box.chaos_progress import CollectionProgress
from dexndm_control.testing.policies import random_policy
from dexndm_learning.bc.collect import NoSuccessfulEpisodes
from dexndm_learning.config import ConfigError
from dexndm_learning.data.rollout_dataset import RolloutDataset
from dexndm_learning.ndm.bag_ingest import load_bags
from dexndm_learning.residual import sim2sim
from dexndm_learning.studies.resumable import from_preset

VARIANTS = ["direct", "joint-wise NDM + residual", "whole-hand NDM + residual"]
TINY = sim2sim_pipeline.PRESETS["tiny"]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def phase_outputs(out):
    paths = [*(out / "bags").rglob("*.mcap"), *(out / "eval").glob("*.json")]
    paths += [out / d / f for d in ("ndm_joint", "ndm_whole") for f in ("best.pt", "last.pt")]
    paths += [out / d / "residual.pt" for d in ("residual_joint", "residual_whole")]
    return {p: p.stat().st_mtime_ns for p in paths}


def test_tiny_run_writes_the_table_of_the_three_variants_and_reuses_finished_phases(tmp_path):
    out = tmp_path / "out"
    argv = ["sim2sim", "--profile", "worn_hand", "--out", str(out), "--preset", "tiny",
            "--base", str(random_policy(tmp_path / "base.pt", "base"))]
    assert cli.main(argv) == 0

    table = (out / "sim2sim.md").read_text()
    results = json.loads((out / "sim2sim.json").read_text())
    assert list(results) == ["normal_cylinders", "test"]
    for object_set, variants in results.items():
        assert list(variants) == VARIANTS
        for name, summary in variants.items():
            assert f"| {object_set} | {name} |" in table and f"**{object_set}: {name}**" in table
            assert {"+-z", "all"} <= set(summary) <= {"+-z", "+z", "-z", "all"}      # group, senses, all
            assert set(summary["all"]) >= {"RotR", "TTF", "RotP"}
        skipped = json.loads((out / "eval" / f"{object_set}_direct.json").read_text())["skipped_objects"]
        assert all(name in table for name in skipped)
    assert (out / "sim2sim.png").stat().st_size > 0

    # The direct-transfer row is the base policy evaluated in the profile (not in nominal sim):
    # an independent evaluation with the same seeds gives the same numbers.
    pipe = sim2sim_pipeline.Pipeline(TINY, "worn_hand", tmp_path / "base.pt", out)
    for reality in ("worn_hand", "nominal"):
        summary, _ = sim2sim.evaluate_variant(pipe.base, None, str(pipe.profile_path if reality == "worn_hand" else reality),
                                              "normal_cylinders", pipe.env_config(TINY.eval_envs, TINY.eval_steps), TINY.seeds)
        same = json.loads(json.dumps(summary["all"])) == results["normal_cylinders"]["direct"]["all"]
        assert same == (reality == "worn_hand"), reality

    steps, errors = load_bags(out / "bags" / "palm_up")
    assert errors == [] and len(np.unique(steps.segment)) == TINY.box_trajectories
    assert len(steps) == TINY.box_trajectories * TINY.box_steps
    assert CollectionProgress(out / "bags" / "palm_up").data["config"]["sim_hand.scene"] == "chaos_box_strapped"

    before = phase_outputs(out)
    assert cli.main(argv) == 0
    assert phase_outputs(out) == before
    assert cli.main(argv + ["--noise-sigma", "0.02"]) == 2            # another setting: another folder


def test_a_custom_profile_file_with_free_hand_data_noise_and_pretraining(tmp_path):
    profile = tmp_path / "my_hand.yaml"
    profile.write_text("description: a hand of our own\nkp_scale: 0.7\nlatency_steps: 2\nbacklash: 0.01\n"
                       "sensor_bias: 0.005\nobject_friction_scale: 0.9\nseed: 3\n")
    out = tmp_path / "out"
    base = random_policy(tmp_path / "base.pt", "base", seed=1)
    results = sim2sim_pipeline.run(str(profile), out, "tiny", base, scene="hand", noise_sigma=0.02,
                                   pretrain_trajectories=2)
    assert all(list(variants) == VARIANTS for variants in results.values())
    assert (out / "sim2sim.md").read_text().startswith("# Sim-to-sim in reality profile `my_hand`")

    collected = CollectionProgress(out / "bags" / "palm_up").data["config"]
    assert collected["sim_hand.reality"] == str(profile.resolve()) and collected["sim_hand.scene"] == "hand"
    assert collected["chaos_replay.noise_sigma"] == 0.02
    for kind in ("joint", "whole"):
        done = json.loads((out / f"ndm_{kind}" / "done.json").read_text())
        assert done["init"] == str(out / "pretrain" / f"ndm_{kind}" / "best.pt")


def test_a_profile_outside_the_schema_is_refused_before_any_work(tmp_path):
    profile = tmp_path / "typo.yaml"
    profile.write_text("kp_scal: 0.7\n")
    with pytest.raises(ConfigError, match="kp_scal"):
        sim2sim_pipeline.run(str(profile), tmp_path / "out", "tiny", random_policy(tmp_path / "base.pt", "base"))
    assert not (tmp_path / "out").exists()


def test_every_phase_starts_objects_as_the_command_line_says():
    args = cli.build_parser().parse_args(["sim2sim", "--profile", "worn_hand", "--out", "o", "--axis-set", "x",
                                          "--start-orientation", "rotation-axis", "--start-offset", "-0.02", "0", "-0.03"])
    cfg = from_preset(PRESETS, args.preset, **cli._pipeline_overrides(args))
    env = sim2sim_pipeline.env_config(cfg, 4, 20)
    assert env.axis_set == "x" and env.grasp.object_orientation == "axis" and env.grasp.object_axis == (1.0, 0.0, 0.0)
    assert env.grasp.centre_offset == (-0.02, 0.0, -0.03) and env.grasp.candidates == cfg.grasp_candidates
    upright = sim2sim_pipeline.start_grasp(dataclasses.replace(cfg, start_orientation="upright"))
    assert upright.object_orientation == "upright" and upright.centre_offset == (-0.02, 0.0, -0.03)
    default = sim2sim_pipeline.start_grasp(PRESETS["small"])
    assert default.object_orientation == "random" and default.centre_offset == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("options, message", [
    ({"start_orientation": "rotation-axis", "axis_set": "xyz"}, "more than one axis line"),
    ({"start_orientation": "sideways"}, "'sideways' is not one of random, upright, rotation-axis"),
    ({"start_offset": [0.0, 0.01]}, "start_offset: three numbers"),
    ({"select_strengths": [0.5], "select_seeds": [2, 7]}, "must differ from the evaluation's seeds"),
    ({"select_strengths": [0.0, 1.0]}, r"each must be in \(0, 1\]"),
    ({"select_strengths": [0.5, 0.5]}, "repeated"),
])
def test_options_that_would_mislead_are_refused_before_any_work(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        sim2sim_pipeline.run("worn_hand", tmp_path / "out", "tiny", random_policy(tmp_path / "base.pt", "base"), **options)
    assert not (tmp_path / "out").exists()


def test_uan_and_asap_rows_fit_their_models_fine_tune_the_base_and_join_the_table(tmp_path):
    teacher = tmp_path / "teacher"                # a committed teacher, with 8 start-grasp candidates instead of 128
    teacher.mkdir()
    committed = ROOT / "models" / "specialists" / "cyl_palm_up_upright_plusz"
    shutil.copy(committed / "checkpoint.pt", teacher)
    config = yaml.safe_load((committed / "config.yaml").read_text())
    config["env"]["grasp"]["candidates"] = 8
    (teacher / "config.yaml").write_text(yaml.safe_dump(config))
    teachers = tmp_path / "teachers.yaml"
    teachers.write_text("teachers:\n  - {name: a, run: %s, seed: 1}\n" % teacher)
    out = tmp_path / "out"
    base = random_policy(tmp_path / "base.pt", "base", seed=2)
    results = sim2sim_pipeline.run("worn_hand", out, "tiny", base, baselines=["uan", "asap"], teachers=str(teachers))
    for variants in results.values():
        assert list(variants) == VARIANTS + [sim2sim.VARIANT_OF_KIND["uan"], sim2sim.VARIANT_OF_KIND["asap"]]
    for kind, model in (("uan", "compensator.pt"), ("asap", "delta_model.pt")):
        assert (out / kind / model).exists()
        run = out / f"finetune_{kind}"
        assert (run / "data" / "a.done").exists() and (run / "runs" / "final" / "policy.pt").exists()
        row = results["normal_cylinders"][sim2sim.VARIANT_OF_KIND[kind]]["all"]
        assert row != results["normal_cylinders"]["direct"]["all"]          # the fine-tuned base acted
    steps, errors = load_bags(out / "uan" / "bags")
    assert errors == [] and len(np.unique(steps.segment)) == TINY.uan_trajectories
    assert "UAN model on its data" in (out / "sim2sim.md").read_text()

    # The control row (the same fine-tuning with no model) joins the finished run; nothing is redone.
    made = {p: p.stat().st_mtime_ns for p in [*out.glob("finetune_*/runs/final/policy.pt"), *out.glob("eval/*.json")]}
    results = sim2sim_pipeline.run("worn_hand", out, "tiny", base, baselines=["uan", "asap", "finetune"],
                                   teachers=str(teachers))
    assert {p: p.stat().st_mtime_ns for p in made} == made
    control = results["normal_cylinders"][sim2sim.VARIANT_OF_KIND["finetune"]]["all"]
    assert control != results["normal_cylinders"]["direct"]["all"]
    for kind, corrected in (("uan", True), ("finetune", False)):
        argv = json.loads((out / f"finetune_{kind}" / "data" / "a.done").read_text())
        assert ("--command-model" in argv) == corrected
    with pytest.raises(ValueError, match="baselines"):
        sim2sim_pipeline.run("worn_hand", tmp_path / "o2", "tiny", base, baselines=["sysid_only"])


def test_a_fine_tuning_whose_teacher_keeps_no_object_is_recorded_as_failed_and_not_retried(tmp_path, monkeypatch):
    teachers = tmp_path / "teachers.yaml"
    teachers.write_text("teachers:\n  - {name: a, run: %s, seed: 1}\n" % (ROOT / "models" / "specialists" / "cyl_palm_up"))
    calls = []

    def drops_everything(step):
        calls.append(step.name)
        raise NoSuccessfulEpisodes(f"{step.name}: the policy kept the object in none of 40 episodes")

    monkeypatch.setattr(sim2sim_pipeline.generalist, "run_step", drops_everything)
    cfg = sim2sim_pipeline.from_preset(sim2sim_pipeline.PRESETS, "tiny", teachers=str(teachers))
    pipe = sim2sim_pipeline.Pipeline(cfg, "worn_hand", random_policy(tmp_path / "base.pt", "base"), tmp_path / "out")
    assert pipe.finetune("asap", None) is None and calls == ["a"]
    failed = json.loads((tmp_path / "out" / "finetune_asap" / sim2sim_pipeline.FAILED).read_text())
    assert failed["step"] == "a" and "none of 40 episodes" in failed["reason"]
    assert pipe.finetune("asap", None) is None and calls == ["a"]             # a rerun does not try again


def test_dexndm_on_top_of_sysid_trains_in_the_identified_sim_and_keeps_its_rollouts_apart(tmp_path):
    identified = tmp_path / "identified.yaml"
    identified.write_text("kp_scale: 0.8\nkd_scale: 1.2\n")
    base = random_policy(tmp_path / "base.pt", "base", seed=3)
    shared = tmp_path / "rollouts"
    results = sim2sim_pipeline.run("worn_hand", tmp_path / "on_sysid", "tiny", base, rollouts_dir=shared,
                                   sim_world=str(identified), pretrain_trajectories=2)
    assert all(list(v) == VARIANTS for v in results.values())
    assert RolloutDataset.open(shared).meta["reality"] == str(identified.resolve())
    with pytest.raises(ValueError, match="sim_world"):
        sim2sim_pipeline.run("worn_hand", tmp_path / "plain", "tiny", base, rollouts_dir=shared)
    with pytest.raises(ValueError, match=r"other start_orientation \(random here, upright now\)"):
        sim2sim_pipeline.run("worn_hand", tmp_path / "upright", "tiny", base, rollouts_dir=shared,
                             sim_world=str(identified), start_orientation="upright")
