"""The learner comparison's table and curves (issue 25) from runs/learner/<variant>/.

    .venv/bin/python scripts/learner_table.py [--runs runs/learner] [--out docs/learner]

Per variant and wall-clock snapshot (10 / 30 / 90 min on the steal-corrected clock): RotR and TTF
of ``eval_<m>min`` (3 seeds x 128 episodes, training conditions, +z), the training drop rate per
env step around that time, env steps and steps/s. Writes ``table.md`` and ``curves.png``
(rotation speed along the axis and drops per step against training minutes, all variants).
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

MARKS = (10, 30, 90)


def progress(run: Path) -> dict[str, np.ndarray]:
    rows = list(csv.DictReader((run / "progress.csv").open()))
    clock = "budget_s" if rows and "budget_s" in rows[0] else "wall_s"
    return {k: np.array([float(r[k]) for r in rows]) for k in ("env_steps", "wall_s", "omega_along_axis", "drop_rate")} | \
        {"minutes": np.array([float(r[clock]) for r in rows]) / 60}


def at(p: dict[str, np.ndarray], minutes: float, key: str, window: int = 10) -> float | None:
    """Mean of ``key`` over the ``window`` iterations before ``minutes`` (None if not reached)."""
    i = int(np.searchsorted(p["minutes"], minutes))
    if i == 0 or p["minutes"][-1] < minutes - 0.5:
        return None
    return float(p[key][max(0, i - window):i].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs/learner")
    ap.add_argument("--out", default="docs/learner")
    args = ap.parse_args()
    runs = sorted(p for p in Path(args.runs).iterdir() if (p / "progress.csv").exists())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| variant | min | env steps | steps/s | RotR (+z) | TTF | drops per step (training) |",
             "|---|---|---|---|---|---|---|"]
    curves = {}
    for run in runs:
        p = progress(run)
        curves[run.name] = p
        for m in MARKS:
            steps = at(p, m, "env_steps", window=1)
            if steps is None:
                continue
            i = int(np.searchsorted(p["minutes"], m))
            rate = steps / (p["wall_s"][i - 1])
            metrics = run / f"eval_{m}min" / "metrics.json"
            if metrics.exists():
                allg = json.loads(metrics.read_text())["all"]
                rot = f"{allg['RotR'][0]:.1f} ± {allg['RotR'][1]:.1f}"
                ttf = f"{allg['TTF'][0]:.2f} ± {allg['TTF'][1]:.2f}"
            else:
                rot = ttf = "not evaluated"
            lines.append(f"| {run.name} | {m} | {steps / 1e6:.2f} M | {rate:.0f} | {rot} | {ttf} | "
                         f"{at(p, m, 'drop_rate'):.4f} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def smooth(v: np.ndarray, k: int = 10) -> np.ndarray:
        return np.convolve(v, np.ones(k) / k, mode="valid")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.get_cmap("tab20").colors                   # more variants than the default cycle's 10
    for (name, p), color in zip(curves.items(), colors * 2):
        if len(p["minutes"]) < 10:
            continue
        axes[0].plot(p["minutes"][9:], smooth(p["omega_along_axis"]), label=name, color=color)
        axes[1].plot(p["minutes"][9:], smooth(p["drop_rate"]), label=name, color=color)
    axes[0].set(xlabel="training minutes (steal-corrected)", ylabel="angular velocity along +z (rad/s)")
    axes[1].set(xlabel="training minutes (steal-corrected)", ylabel="drops per env step")
    for ax in axes:
        for m in MARKS:
            ax.axvline(m, color="0.8", lw=0.8)
        ax.legend(fontsize=8)
    fig.suptitle("Learner comparison, normal cylinders, palm up, +z, hand v2")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=80)


if __name__ == "__main__":
    main()
