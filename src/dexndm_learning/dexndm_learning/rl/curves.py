"""Learning curves of a specialist run (``progress.csv``) as a PNG.

    dexndm-learn plot-curves --run runs/specialists/cyl_palm_up [--out curves.png]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def plot_curves(run_dir: Path, out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    progress = run_dir / "progress.csv"
    if not progress.is_file():
        raise FileNotFoundError(f"{run_dir}: not a specialist run folder (no progress.csv in it)")
    rows = list(csv.DictReader(progress.open()))
    if not rows:
        raise ValueError(f"{progress}: no training iterations logged yet")
    steps = np.array([float(r["env_steps"]) for r in rows]) / 1e6
    hours = np.array([float(r["wall_s"]) for r in rows]) / 3600
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, key, label in zip(axes, ("mean_reward", "omega_along_axis", "drop_rate"),
                              ("mean step reward", "object angular velocity along the axis (rad/s)",
                               "drops per env step")):
        y = np.array([float(r[key]) for r in rows])
        ax.plot(steps, y, lw=0.6, alpha=0.4)
        k = max(1, len(y) // 50)
        ax.plot(steps[k - 1:], np.convolve(y, np.ones(k) / k, mode="valid"), lw=1.5)
        ax.set(xlabel="env steps (millions)", title=label)
    fig.suptitle(f"{run_dir.name}: {steps[-1]:.1f} M env steps in {hours[-1]:.2f} h of training")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Plot a specialist run's learning curves.")
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", default=None, help="default <run>/curves.png")
    args = ap.parse_args(argv)
    run = Path(args.run)
    print(plot_curves(run, Path(args.out or run / "curves.png")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
