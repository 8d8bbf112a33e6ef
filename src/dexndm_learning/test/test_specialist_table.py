import json

import pytest
import torch
import yaml

from dexndm_learning import cli
from dexndm_learning.rl.specialist_table import bar_for, table


def fake_run(root, name, object_set, wrists, metrics=None, hand_version="v2", wall_s=3600.0, steps=1e6, grasp=None,
             axis_set="z", init=None, nthread=2, update_threads=2):
    run = root / name
    run.mkdir(parents=True)
    env = {"object_set": object_set, "wrists": wrists, "axis_set": axis_set, "nthread": nthread}
    env |= {"grasp": grasp} if grasp else {}
    (run / "config.yaml").write_text(yaml.safe_dump({"env": env, "update_threads": update_threads}
                                                    | ({"init_checkpoint": str(init)} if init else {})))
    torch.save({"hand_version": hand_version}, run / "checkpoint.pt")
    (run / "progress.csv").write_text(f"iteration,env_steps,wall_s\n0,1000,1.0\n9,{steps:.0f},{wall_s}\n")
    if metrics is not None:
        (run / "eval").mkdir()
        (run / "eval" / "metrics.json").write_text(json.dumps(metrics))
    return run


def group(rotr, ttf):
    return {"RotR": [rotr, 1.0], "TTF": [ttf, 0.01], "RotP": [0.5, 0.1]}


def test_each_sense_is_checked_against_its_bar(tmp_path):
    fake_run(tmp_path, "cyl", "normal_cylinders", ["palm_up"],
             {"+z": group(160.0, 0.90), "-z": group(160.0, 0.80), "goal": {"GO_Succ": [0.02, 0.0]}})
    rows = [r for r in table(tmp_path).splitlines() if r.startswith("| `cyl` | normal_cylinders")]
    assert len(rows) == 2
    assert "| +z | 160.0 ± 1.0 | 0.90 ± 0.01 |" in rows[0] and "2.0 %" in rows[0] and rows[0].endswith("| yes |")
    assert rows[1].endswith("| no |")                          # TTF 0.80 < 0.85
    assert "hand v2" in rows[0]


def test_a_run_without_evaluation_is_listed_and_the_cpu_time_summed(tmp_path):
    fake_run(tmp_path, "a", "complex", ["palm_up"], None, wall_s=1800.0, steps=2e6)
    fake_run(tmp_path, "b", "long_cuboids", ["palm_up"], {"+z": group(1.0, 0.1), "-z": group(120.0, 0.8)},
             wall_s=5400.0, steps=3e6)
    text = table(tmp_path)
    assert "| `a` | complex, palm_up, hand v2 | - | not evaluated" in text
    assert ("| `b` | long_cuboids, palm_up, hand v2 | -z | 120.0 ± 1.0 | 0.80 ± 0.01 | 0.50 | 0.0 % | "
            "RotR >= 100, TTF >= 0.75") in text
    assert "| `b` | 1.50 | - | 1.50 | 3.0 | 3.0 M |" in text              # two MuJoCo threads
    assert "| total | 2.00 | | | 4.0 | 5.0 M |" in text
    assert "`b`, 3.0 core-hours, within issue 17's limit of 4 CPU-hours" in text


def test_a_warm_started_run_counts_the_runs_it_started_from(tmp_path):
    a = fake_run(tmp_path, "a", "normal_cylinders", ["palm_up"], wall_s=1800.0, nthread=4)
    b = fake_run(tmp_path, "b", "normal_cuboids", ["palm_up"], wall_s=3600.0, init=a / "checkpoint.pt")
    fake_run(tmp_path, "c", "small_cylinders", ["palm_up"], wall_s=900.0, init=b / "checkpoint.pt")
    fake_run(tmp_path, "d", "small_cylinders", ["palm_up"], wall_s=900.0, init=tmp_path / "gone" / "checkpoint.pt",
             update_threads=3)
    text = table(tmp_path)
    assert "| `a` | 0.50 | - | 0.50 | 2.0 |" in text                 # four MuJoCo threads
    assert "| `b` | 1.00 | `a` | 1.50 | 4.0 |" in text
    assert "| `c` | 0.25 | `b` <- `a` | 1.75 | 4.5 |" in text
    assert "| `d` | 0.25 | - | 0.25 | 0.8 |" in text                 # three threads in the PPO update
    assert "| total | 2.00 | | | 5.2 | 4.0 M |" in text          # each run's own time once
    assert "Largest specialist with its warm start: `c`, 4.5 core-hours, over issue 17's limit of 4" in text


def test_six_named_wrists_are_held_to_the_six_wrist_bar_in_the_senses_they_train(tmp_path):
    six = ["palm_up", "palm_down", "thumb_up", "thumb_down", "base_up", "base_down"]
    fake_run(tmp_path, "px", "normal_cylinders", six, {"+x": group(90.0, 0.7), "+-x": group(90.0, 0.7)},
             axis_set="+x")
    fake_run(tmp_path, "all", "normal_cylinders", six, {"+-x": group(90.0, 0.7), "+-y": group(70.0, 0.7),
                                                        "+-z": group(90.0, 0.6)}, axis_set="xyz")
    rows = table(tmp_path).splitlines()
    px = [r for r in rows if r.startswith("| `px` | normal")]
    assert px == ["| `px` | normal_cylinders, six named wrists, hand v2 | +x | 90.0 ± 1.0 | 0.70 ± 0.01 | 0.50 | "
                  "0.0 % | RotR >= 80, TTF >= 0.65 (six-wrist mean per axis group) | yes |"]
    assert [r.rsplit("|", 2)[1].strip() for r in rows if r.startswith("| `all` | normal")] == ["yes", "no", "no"]


def per_wrist(sense, values):
    """metrics.json of a one-sense six-wrist run: the sense's own row and a (RotR, TTF) per wrist."""
    six = ["palm_up", "palm_down", "thumb_up", "thumb_down", "base_up", "base_down"]
    rotr = sum(v[0] for v in values) / 6
    return {sense: group(rotr, 0.7)} | {f"{w} +-{sense[1]}": group(*v) for w, v in zip(six, values)}


def test_the_six_wrist_table_has_every_cell_and_averages_both_senses_over_the_wrists(tmp_path):
    six = ["palm_up", "palm_down", "thumb_up", "thumb_down", "base_up", "base_down"]
    fake_run(tmp_path, "px", "normal_cylinders", six, per_wrist("+x", [(120.0, 0.9)] * 6), axis_set="+x")
    fake_run(tmp_path, "px_weak", "normal_cylinders", six, per_wrist("+x", [(10.0, 0.9)] * 6), axis_set="+x")
    fake_run(tmp_path, "mx", "normal_cylinders", six,
             per_wrist("-x", [(60.0, 0.5), (30.0, 0.5), (30.0, 0.5), (30.0, 0.5), (30.0, 0.5), (30.0, 0.5)]),
             axis_set="-x")
    fake_run(tmp_path, "pz", "normal_cylinders", six, per_wrist("+z", [(90.0, 0.8)] * 6), axis_set="+z")
    fake_run(tmp_path, "palm", "normal_cylinders", ["palm_up"], {"+z": group(150.0, 0.9), "-z": group(900.0, 0.7)})
    fake_run(tmp_path, "old", "normal_cylinders", ["palm_down"], {"-z": group(999.0, 0.9)}, hand_version="v1")
    fake_run(tmp_path, "both", "normal_cylinders", six, per_wrist("-z", [(999.0, 0.9)] * 6) | {"-z": group(999.0, 0.9)},
             axis_set="z")                          # both senses under six wrists: no per-wrist number per sense
    lines = table(tmp_path).splitlines()
    assert "| runs | `px` | `mx` | none | none | `palm`, `pz` | `palm` |" in lines   # the stronger +x run
    assert "| palm_up | 120.0 / 0.90 | 60.0 / 0.50 | - | - | 150.0 / 0.90 (`palm`) | 900.0 / 0.70 |" in lines
    assert "| base_down | 120.0 / 0.90 | 30.0 / 0.50 | - | - | 90.0 / 0.80 (`pz`) | - |" in lines
    assert "| +-x | 77.5 | 0.70 | no |" in lines                          # (6 x 120 + 60 + 5 x 30) / 12
    assert "| +-y | incomplete: no run for +y; no run for -y | | no |" in lines
    assert ("| +-z | incomplete: no -z run under palm_down, thumb_up, thumb_down, base_up, base_down | | no |"
            in lines)                                                   # v1's palm down is not a v2 cell


def test_a_wrist_group_run_fills_its_wrists_cells_and_the_group_is_met_on_the_mean(tmp_path):
    four = ["palm_up", "palm_down", "thumb_up", "thumb_down"]
    fake_run(tmp_path, "pz4", "normal_cylinders", four,
             {"+z": group(90.0, 0.8)} | {f"{w} +-z": group(90.0, 0.8) for w in four}, axis_set="+z")
    fake_run(tmp_path, "pz_base", "normal_cylinders", ["base_up", "base_down"],
             {"+z": group(70.0, 0.7), "base_up +-z": group(80.0, 0.7), "base_down +-z": group(60.0, 0.7)},
             axis_set="+z")
    fake_run(tmp_path, "mz", "normal_cylinders", six_wrists(), per_wrist("-z", [(80.0, 0.7)] * 6), axis_set="-z")
    fake_run(tmp_path, "pz_fast", "normal_cylinders", six_wrists(), per_wrist("+z", [(500.0, 0.3)] * 6),
             axis_set="+z")                         # faster everywhere, but drops: below the bar's TTF
    lines = table(tmp_path).splitlines()
    assert "| base_up | - | - | - | - | 80.0 / 0.70 (`pz_base`) | 80.0 / 0.70 |" in lines
    assert "| +-z | 81.7 | 0.73 | yes |" in lines                         # (4 x 90 + 80 + 60 + 6 x 80) / 12


def six_wrists():
    return ["palm_up", "palm_down", "thumb_up", "thumb_down", "base_up", "base_down"]


def test_the_six_wrist_bar_is_met_on_the_mean_not_on_each_cell(tmp_path):
    six = ["palm_up", "palm_down", "thumb_up", "thumb_down", "base_up", "base_down"]
    fake_run(tmp_path, "py", "normal_cylinders", six, per_wrist("+y", [(150.0, 0.9)] + [(66.0, 0.6)] * 5),
             axis_set="+y")
    fake_run(tmp_path, "my", "normal_cylinders", six, per_wrist("-y", [(80.0, 0.75)] * 6), axis_set="-y")
    assert "| +-y | 80.0 | 0.70 | yes |" in table(tmp_path).splitlines()


def test_a_start_other_than_the_papers_is_named_in_the_conditions(tmp_path):
    fake_run(tmp_path, "up", "normal_cylinders", ["palm_up"], {"+z": group(160.0, 0.90)},
             grasp={"object_orientation": "upright", "centre_offset": [-0.02, 0.0, -0.03]})
    fake_run(tmp_path, "paper", "normal_cylinders", ["palm_up"], {"+z": group(160.0, 0.90)})
    text = table(tmp_path)
    assert "| `up` | normal_cylinders, palm_up, hand v2, start upright, centre -2/+0/-3 cm | +z |" in text
    assert "| `paper` | normal_cylinders, palm_up, hand v2 | +z |" in text


def test_bars_follow_the_issue():
    assert bar_for("normal_cylinders", ["random"]).groups == ("+-x", "+-y", "+-z")
    assert (bar_for("normal_cylinders", ["palm_down"]).rotr, bar_for("normal_cylinders", ["palm_down"]).ttf) == (100, 0.70)
    assert bar_for("test", ["palm_up"]) is None


def test_an_empty_folder_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["specialist-table", "--models", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_the_committed_specialists_are_all_in_the_table():
    from pathlib import Path

    models = Path(__file__).resolve().parents[3] / "models" / "specialists"
    if not models.is_dir():
        pytest.skip("no committed specialists in this checkout")
    text = table(models)
    for run in models.iterdir():
        if (run / "config.yaml").exists():
            assert f"`{run.name}`" in text
