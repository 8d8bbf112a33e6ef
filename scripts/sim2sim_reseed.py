"""Issue 19: does a finished ``dexndm sim2sim-random`` run's verdict on the selected residual hold on
evaluation seeds it never used? Per profile, direct transfer and the selected residual
(``select/<tag>/residual.pt``; the base alone where the selection kept it) evaluated again on
``--seeds`` with the run's own settings (its ``pipeline.yaml``: wrists, axes, envs, steps, grasps);
the median and worst of the new ratios and the worst TTF change.

    .venv/bin/python scripts/sim2sim_reseed.py --run runs/s2s_random_sel4 --seeds 200 201 202

Writes ``<run>/reseed_<seeds>.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import yaml

from dexndm_control.commands.sim2sim_config import PipelineConfig
from dexndm_control.commands.sim2sim_pipeline import env_config
from dexndm_learning.residual import sim2sim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--object-set", default=None, help="default: the run's training objects")
    args = ap.parse_args()
    torch.set_num_threads(1)
    bench = yaml.safe_load((args.run / "benchmark.yaml").read_text())
    tag = "_".join(map(str, args.seeds))
    rows = []
    for profile_dir in sorted(args.run.glob("profile_[0-9]*")):
        cfg = PipelineConfig(**yaml.safe_load((profile_dir / "pipeline.yaml").read_text())["pipeline"])
        object_set = args.object_set or cfg.train_objects
        if set(args.seeds) & set(cfg.seeds):
            raise SystemExit(f"{profile_dir}: --seeds {args.seeds} overlap the run's evaluation seeds {cfg.seeds}")
        env_cfg = env_config(cfg, cfg.eval_envs, cfg.eval_steps)
        chosen = sorted(profile_dir.glob("select/*/residual.pt"))
        if len(chosen) > 1:
            raise SystemExit(f"{profile_dir}: more than one selection ({[str(c) for c in chosen]}); give a run with one")
        residual = chosen[0] if chosen else None
        profile = str(args.run / "profiles" / f"{profile_dir.name}.yaml")
        result = {}
        for name, res in (("direct", None), ("selected", residual)):
            if name == "selected" and res is None:     # the base alone: the same runs as direct
                result[name] = result["direct"]
                continue
            summary, _ = sim2sim.evaluate_variant(Path(bench["base"]), res, profile, object_set, env_cfg, args.seeds)
            result[name] = summary["all"]
        rotr = {k: v["RotR"][0] for k, v in result.items()}
        ttf = {k: v["TTF"][0] for k, v in result.items()}
        rows.append({"profile": profile_dir.name, "residual": str(residual or "base alone"), "RotR": rotr, "TTF": ttf,
                     "ratio": rotr["selected"] / rotr["direct"], "ttf_change": ttf["selected"] - ttf["direct"]})
        print(rows[-1], flush=True)
    ratios = np.array([r["ratio"] for r in rows])
    ttf_changes = np.array([r["ttf_change"] for r in rows])
    summary = {"seeds": args.seeds, "median": float(np.median(ratios)), "worst": float(ratios.min()),
               "worst_ttf_change": float(ttf_changes.min())}
    (args.run / f"reseed_{tag}.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    lines = [f"Seeds {args.seeds}, {object_set}: direct transfer and the selected residual evaluated again.", "",
             "| profile | direct RotR / TTF | selected RotR / TTF | selected / direct |", "|---|---|---|---|"]
    lines += [f"| {r['profile']} | {r['RotR']['direct']:.1f} / {r['TTF']['direct']:.2f} | {r['RotR']['selected']:.1f} / "
              f"{r['TTF']['selected']:.2f} | {r['ratio']:.2f}x |" for r in rows]
    lines += ["", f"Median {summary['median']:.2f}x, worst {summary['worst']:.2f}x, worst TTF change "
                  f"{summary['worst_ttf_change']:+.3f}."]
    (args.run / f"reseed_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
