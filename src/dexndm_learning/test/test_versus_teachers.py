"""``dexndm-learn versus-teachers``: the generalist against each teacher on the teacher's conditions."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dexndm_learning.bc import versus_teachers as vt
from dexndm_learning.policy.fakes import random_policy
from dexndm_learning.rl import evaluate
from dexndm_learning.sim.hand_model import HandVersionError

ROOT = Path(__file__).resolve().parents[3]


def cell(rotr, ttf):
    return {"RotR": [rotr, 1.0], "TTF": [ttf, 0.01], "RotP": [0.5, 0.1]}


def test_cells_are_senses_for_one_wrist_and_wrist_cells_for_several():
    one = {"+-z": cell(1, 1), "+z": cell(1, 1), "-z": cell(1, 1), "all": cell(1, 1), "goal": {}, "skipped_objects": []}
    assert vt.teacher_cells(one, None) == ["+z", "-z"]
    several = {"+-x": cell(1, 1), "+x": cell(1, 1), "palm_up +-x": cell(1, 1), "base_down +-x": cell(1, 1),
               "all": cell(1, 1), "goal": {}, "skipped_objects": []}
    assert vt.teacher_cells(several, None) == ["palm_up +-x", "base_down +-x"]
    assert vt.teacher_cells(several, ["palm_up", "thumb_up"]) == ["palm_up +-x"]


def test_a_cell_is_met_at_80_percent_of_the_rotr_and_a_ttf_drop_of_0_1():
    teacher = {"+z": cell(100.0, 0.9), "-z": cell(100.0, 0.9), "+x": cell(0.0, 0.5)}
    student = {"+z": cell(80.0, 0.8), "-z": cell(79.0, 0.95), "+x": cell(2.0, 0.5)}
    rows = vt.compare("t", teacher, student, ["+z", "-z", "+x"], keep=0.8, max_ttf_drop=0.1)
    assert [r.met for r in rows] == [True, False, True]
    assert rows[0].rotr_kept == pytest.approx(0.8) and rows[0].ttf_drop == pytest.approx(0.1)
    assert rows[2].rotr_kept is None
    assert not vt.compare("t", teacher, {"+z": cell(120.0, 0.79)}, ["+z"], 0.8, 0.1)[0].met
    with pytest.raises(ValueError, match="no cell '-z'"):
        vt.compare("t", teacher, {"+z": cell(1, 1)}, ["-z"], 0.8, 0.1)


def test_the_command_evaluates_each_teacher_run_once_and_refuses_a_changed_policy(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    recipe = tmp_path / "r.yaml"
    teacher = "models/specialists/cyl_palm_up"                      # v1, both senses; listed twice (a +z top-up)
    recipe.write_text(yaml.safe_dump({"teachers": [{"name": "up", "run": teacher},
                                                   {"name": "up_plusz", "run": teacher, "axis_set": "+z"}]}))
    policy, out = random_policy(tmp_path / "student.pt", "base", hand_version="v1"), tmp_path / "out"
    argv = ["--config", str(recipe), "--policy", str(policy), "--out", str(out), "--seeds", "0", "--num-envs", "8"]
    assert vt.main(argv) == 0
    rows = json.loads((out / "versus.json").read_text())
    assert [(r["teacher"], r["cell"]) for r in rows] == [("up", "+z"), ("up", "-z")]
    assert not (out / "up_plusz").exists()
    student = json.loads((out / "up" / "metrics.json").read_text())
    assert rows[1]["rotr"] == pytest.approx(student["-z"]["RotR"][0])
    assert rows[1]["teacher_rotr"] == pytest.approx(169.7, abs=0.1)        # the committed teacher evaluation
    assert "of 2 cells met" in (out / "versus.md").read_text()

    monkeypatch.setattr(evaluate, "main", lambda argv: pytest.fail("a finished evaluation ran again"))
    assert vt.main(argv) == 0
    random_policy(policy, "base", seed=1, hand_version="v1")           # the same path, other weights
    with pytest.raises(ValueError, match="another command or policy"):
        vt.main(argv)


def test_a_policy_for_another_hand_or_a_teacher_without_its_evaluation_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"teachers": [{"name": "up", "run": "models/specialists/cyl_palm_up"}]}))
    argv = ["--config", str(recipe), "--out", str(tmp_path / "o")]
    with pytest.raises(HandVersionError, match="made on hand v2"):
        vt.main([*argv, "--policy", str(random_policy(tmp_path / "p2.pt", "base", hand_version="v2"))])
    run = tmp_path / "teacher"
    (run).mkdir()
    (run / "checkpoint.pt").write_bytes((ROOT / "models/specialists/cyl_palm_up/checkpoint.pt").read_bytes())
    recipe.write_text(yaml.safe_dump({"teachers": [{"name": "t", "run": str(run)}]}))
    with pytest.raises(FileNotFoundError, match="teacher 't'.*eval/metrics.json"):
        vt.main([*argv, "--policy", str(random_policy(tmp_path / "p1.pt", "base", hand_version="v1"))])
    assert not (tmp_path / "o").exists()
