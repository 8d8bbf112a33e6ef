"""``dexndm-learn eval-policy``: the paper's Table 1 layout for a policy file or a specialist run."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from dexndm_learning.cli import main as cli_main
from dexndm_learning.rl.eval_policy import SIX_NAMED, _mean_over_wrists, along_rotation_axis, conditions_env, \
    evaluate_table, expand_wrists, markdown, rotation_axis_line, start_title, summarize_table
from dexndm_learning.rl.evaluate import episode_metrics, run_episodes, specialist_actor
from dexndm_learning.sim.wrist import NAMED_WRISTS

SPECIALIST = Path(__file__).resolve().parents[3] / "models" / "specialists" / "cyl_palm_up"


def test_wrist_settings_expand_and_unknown_ones_are_named():
    assert expand_wrists(["random", "named", "palm_up"]) == ["random", *NAMED_WRISTS]
    with pytest.raises(ValueError, match="--wrists: unknown wrist 'palm_sideways'"):
        expand_wrists(["palm_sideways"])


def test_six_wrist_mean_is_taken_per_seed_then_over_seeds():
    cells = [{"+-z": {"RotR": [10.0 * i, 10.0 * i + 6], "TTF": [0.5, 0.7], "RotP": [0.1, 0.1]}} for i in range(6)]
    mean = _mean_over_wrists(cells)
    assert mean["+-z"]["RotR"] == pytest.approx([25.0, 31.0])
    summary = summarize_table({"cells": {SIX_NAMED: mean}, "GO_Succ": {SIX_NAMED: [0.5, 0.7]}})
    assert summary["cells"][SIX_NAMED]["+-z"]["RotR"] == pytest.approx((28.0, 3.0))
    table = markdown(summary, "t")
    assert f"| {SIX_NAMED} | 28.00 ± 3.00 | 0.60 ± 0.10 | 0.10 ± 0.00 | 60.0 ± 10.0 |" in table


def test_a_specialist_on_its_own_conditions_scores_what_eval_specialist_measures(tmp_path):
    out = tmp_path / "table"
    assert cli_main(["eval-policy", "--policy", str(SPECIALIST), "--wrists", "palm_up", "--axes", "z",
                     "--seeds", "0", "--num-envs", "4", "--steps", "15", "--out", str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    cell = result["cells"]["palm_up"]
    assert {"+-z", "+z", "-z"} <= set(cell) and "palm_up" in result["GO_Succ"]
    env, act = specialist_actor(SPECIALIST, 4, 0, {"wrists": ["palm_up"], "axis_set": "z"})
    direct = episode_metrics(run_episodes(env, act, 15))
    assert cell["+-z"]["RotR"][0] == pytest.approx(float(np.mean(direct["RotR"])), rel=1e-9)
    assert cell["+-z"]["TTF"][0] == pytest.approx(float(np.mean(direct["TTF"])), rel=1e-9)
    assert (out / "pm_z.png").stat().st_size > 0
    assert "| palm_up |" in (out / "metrics.md").read_text()


def test_a_missing_policy_is_one_line_and_status_2(tmp_path, capsys):
    assert cli_main(["eval-policy", "--policy", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.pt" in err


def test_the_start_is_replaced_and_the_rest_of_the_conditions_stay():
    own = conditions_env(SPECIALIST)
    assert own.grasp.object_orientation == "random" and own.grasp.centre_offset == (0.0, 0.0, 0.0)
    other = conditions_env(SPECIALIST, "test", "upright", [-0.02, 0, -0.03])
    assert other.object_set == "test"
    assert other.grasp.object_orientation == "upright" and other.grasp.centre_offset == (-0.02, 0.0, -0.03)
    assert dataclasses.replace(other, object_set=own.object_set, grasp=own.grasp) == own
    assert dataclasses.replace(other.grasp, object_orientation="random", centre_offset=(0.0, 0.0, 0.0)) == own.grasp
    assert conditions_env(SPECIALIST, start_orientation="upright").grasp.centre_offset == (0.0, 0.0, 0.0)
    along_x = conditions_env(SPECIALIST, start_orientation="axis", start_axis=[1, 0, 0]).grasp
    assert along_x.object_orientation == "axis" and along_x.object_axis == (1.0, 0.0, 0.0)


def test_grasp_candidates_replace_only_the_candidates_and_are_refused_below_one(tmp_path, capsys):
    own = conditions_env(SPECIALIST)
    fewer = conditions_env(SPECIALIST, grasp_candidates=32)
    assert fewer.grasp.candidates == 32 != own.grasp.candidates
    assert dataclasses.replace(fewer.grasp, candidates=own.grasp.candidates) == own.grasp
    with pytest.raises(ValueError, match="--grasp-candidates: 0"):
        conditions_env(SPECIALIST, grasp_candidates=0)
    assert cli_main(["eval-policy", "--policy", str(SPECIALIST), "--grasp-candidates", "-1",
                     "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--grasp-candidates: -1" in err


def test_rotation_axis_start_puts_each_cells_objects_along_its_own_axis(tmp_path, capsys):
    assert rotation_axis_line("x") == rotation_axis_line("-x") == (1.0, 0.0, 0.0)
    assert rotation_axis_line("+y") == (0.0, 1.0, 0.0) and rotation_axis_line("z") == (0.0, 0.0, 1.0)
    for several in ("xyz", "general"):
        with pytest.raises(ValueError, match=f"axis set '{several}' has more than one axis line"):
            rotation_axis_line(several)
    base = conditions_env(SPECIALIST, start_offset=[-0.02, 0, -0.03])
    seen = []

    class Stop(Exception):
        pass

    def factory(overrides, seed):
        seen.append(overrides)
        raise Stop
    for axes, line in (("y", (0.0, 1.0, 0.0)), ("-z", (0.0, 0.0, 1.0))):
        with pytest.raises(Stop):
            evaluate_table(factory, ["thumb_up"], [axes], [0], cell_env=along_rotation_axis(base.grasp))
        grasp = seen[-1]["grasp"]
        assert seen[-1]["axis_set"] == axes and grasp.object_orientation == "axis" and grasp.object_axis == line
        assert grasp.centre_offset == (-0.02, 0.0, -0.03)
    assert start_title(base.grasp, True) == ", start along each rotation axis, centre -2/+0/-3 cm"
    # a set without one line is refused before any cell runs: one line, status 2
    assert cli_main(["eval-policy", "--policy", str(SPECIALIST), "--axes", "z", "general",
                     "--start-orientation", "rotation-axis", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'general'" in err and not (tmp_path / "o").exists()


def test_an_interrupted_evaluation_resumes_from_its_finished_cells(tmp_path, monkeypatch, capsys):
    from dexndm_learning.rl import eval_policy

    argv = ["eval-policy", "--policy", str(SPECIALIST), "--wrists", "palm_up", "--axes", "z", "--seeds", "0", "1",
            "--num-envs", "4", "--steps", "15"]
    assert cli_main([*argv, "--out", str(tmp_path / "whole")]) == 0
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())

    real, ran = eval_policy.run_cell, []

    def stops_after_one(*a, **k):
        if ran:
            raise KeyboardInterrupt
        ran.append(a[3])                     # the seed
        return real(*a, **k)
    monkeypatch.setattr(eval_policy, "run_cell", stops_after_one)
    with pytest.raises(KeyboardInterrupt):
        cli_main([*argv, "--out", str(tmp_path / "resumed")])
    assert [p.name for p in (tmp_path / "resumed" / "cells").iterdir()] == ["palm_up__z__s0.json"]

    def counting(*a, **k):
        ran.append(a[3])
        return real(*a, **k)
    monkeypatch.setattr(eval_policy, "run_cell", counting)
    assert cli_main([*argv, "--out", str(tmp_path / "resumed")]) == 0
    assert ran == [0, 1]                     # seed 0 once (before the stop), seed 1 after it
    resumed = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert resumed["per_seed"] == whole["per_seed"] and resumed["GO_Succ"] == whole["GO_Succ"]

    # other settings into the same folder: refused in one line, the cells kept
    before = (tmp_path / "resumed" / "cells" / "palm_up__z__s0.json").read_text()
    argv[argv.index("--num-envs") + 1] = "2"
    assert cli_main([*argv, "--out", str(tmp_path / "resumed")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "palm_up__z__s0.json" in err and "another evaluation" in err
    assert (tmp_path / "resumed" / "cells" / "palm_up__z__s0.json").read_text() == before


def test_a_folder_with_a_foreign_or_broken_cell_is_refused_before_any_cell_runs(tmp_path):
    from dexndm_learning.rl.cell_cache import CellCache

    cells = tmp_path / "cells"
    CellCache(cells, {"policy": "a"}).save("thumb_up", "z", 2, {"values": {}})
    assert CellCache(cells, {"policy": "a"}).load("thumb_up", "z", 2) == {"values": {}}
    assert CellCache(cells, {"policy": "a"}).load("palm_up", "z", 0) is None
    with pytest.raises(ValueError, match=r"thumb_up__z__s2.json: a cell of another evaluation"):
        CellCache(cells, {"policy": "b"})           # at construction: before the first cell would run
    (cells / "palm_up__x__s0.json").write_text('{"key": "')
    with pytest.raises(ValueError, match=r"palm_up__x__s0.json: not a finished cell .*remove it"):
        CellCache(cells, {"policy": "a"})


@pytest.mark.parametrize("repeat, message", [(["--axes", "z", "z"], "--axes: repeated"),
                                             (["--seeds", "0", "0"], "--seeds: repeated"),
                                             (["--axes", "z", "q"], "unknown axis set 'q'")])
def test_repeated_or_unknown_cells_are_refused_in_one_line(tmp_path, capsys, repeat, message):
    assert cli_main(["eval-policy", "--policy", str(SPECIALIST), *repeat, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and not (tmp_path / "o").exists()
