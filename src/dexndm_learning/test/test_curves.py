"""``dexndm-learn plot-curves``: a run's progress.csv as a PNG, and what it says about a folder without one."""
import csv

from dexndm_learning import cli
from dexndm_learning.rl.curves import plot_curves

FIELDS = ["env_steps", "wall_s", "mean_reward", "omega_along_axis", "drop_rate"]


def write_progress(run, rows):
    run.mkdir(parents=True, exist_ok=True)
    with (run / "progress.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)


def test_the_curves_of_a_run_are_a_png(tmp_path):
    run = tmp_path / "run"
    write_progress(run, [dict(zip(FIELDS, (16384 * i, 6.0 * i, 0.01 * i, 0.002 * i, 0.001))) for i in range(1, 80)])
    out = plot_curves(run, run / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_without_progress_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["plot-curves", "--run", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"dexndm-learn plot-curves: error: {tmp_path / 'nope'}: not a specialist run folder (no progress.csv in it)"


def test_a_run_with_no_iterations_yet_names_its_progress_file(tmp_path, capsys):
    write_progress(tmp_path / "run", [])
    assert cli.main(["plot-curves", "--run", str(tmp_path / "run")]) == 2
    assert "run/progress.csv: no training iterations logged yet" in capsys.readouterr().err
