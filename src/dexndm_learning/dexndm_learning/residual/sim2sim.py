"""Sim-to-sim study (method.md section 11, paper Table 6): a reality profile plays the real world.

    # evaluate direct transfer and given residuals in the target world
    python -m dexndm_learning.residual.sim2sim eval --base base.pt --reality worn_hand \\
        --residual joint=runs/residual/joint/residual.pt --residual whole=runs/residual/whole/residual.pt \\
        --object-sets normal_cylinders normal_cuboids --out runs/sim2sim/worn_hand

    # the whole chain from target-world control steps (collected elsewhere) and sim rollouts
    python -m dexndm_learning.residual.sim2sim pipeline --base base.pt --reality worn_hand \\
        --steps data/worn_hand_steps.npz --sim-data data/rollouts/base_nominal --out runs/sim2sim/worn_hand

The whole chain from the base policy alone, with the Chaos Box bags collected through ROS 2:
``dexndm sim2sim`` (``dexndm_control.commands.sim2sim_pipeline``).

``pipeline`` fits a joint-wise and a whole-hand NDM on the target world's steps
(``fit_target_ndm``), trains a residual through each on the base policy's sim rollouts and
evaluates: (i) direct transfer (base only), (ii) base + residual via the joint-wise NDM, (iii) base
+ residual via the whole-hand NDM.

Evaluation: per object set, variant and seed one synchronized episode in each of ``num_envs``
envs of the reality profile, with training randomization off (the profile is the world; the
object disturbances and observation noise stay as in the given ``EnvConfig``) and the env seed
``1000 + seed``, so every variant meets the same grasps, axes and disturbances. Metrics
are RotR / TTF / RotP (mean +- std over seeds, per axis group, ``rl.evaluate.summarize``).
Outputs: ``sim2sim.md`` (tables), ``sim2sim.json`` (summaries) and ``sim2sim.png`` (bars).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import yaml

from dexndm_learning.ndm.config import NdmConfig
from dexndm_learning.ndm.dataset import load_steps
from dexndm_learning.ndm.models import load_model
from dexndm_learning.ndm.steps import Steps
from dexndm_learning.ndm import train as ndm_train
from dexndm_learning.residual import train as residual_train
from dexndm_learning.residual.deploy import BaseResidualActor
from dexndm_learning.rl.evaluate import markdown_table, run_episodes, summarize
from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv

DIRECT = "direct"
VARIANT_OF_KIND = {"joint": "joint-wise NDM + residual", "finger": "finger-wise NDM + residual",
                   "whole": "whole-hand NDM + residual",
                   "robust": "joint-wise NDM ensemble + gated residual (robust DexNDM)",
                   "refined": "joint-wise NDM refined on deployment data + residual (refined DexNDM)",
                   "selected": "DexNDM residual and strength chosen by trial runs in the target (selected DexNDM)",
                   "uan": "UAN (compensator fit on free-hand waves, base fine-tuned)",
                   "asap": "ASAP (delta-action model fit on task steps, base fine-tuned)",
                   "finetune": "base fine-tuned the same way with no model (control for UAN and ASAP)"}
PLOT_METRICS = ("RotR", "TTF", "RotP")


def fit_target_ndm(steps: Steps, kind: str, out: Path, cfg: NdmConfig | None = None,
                   init: Path | None = None, progress: bool = True) -> Path:
    """Fit an NDM of ``kind`` to control steps recorded in the target world (optionally
    fine-tuning the sim-pretrained ``init``); continues an interrupted run in ``out``; returns
    the best checkpoint."""
    cfg = cfg or NdmConfig.load()
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, kind=kind))
    resume = (out / "last.pt").exists()
    ndm_train.train(cfg, steps, out, init=None if resume else init, resume=resume, progress=progress)
    return out / "best.pt"


def train_residual(ndm_path: Path, sim_data: list[str], out: Path,
                   cfg: residual_train.ResidualConfig | None = None, progress: bool = True, resume: bool = False) -> Path:
    """Train a residual through the NDM at ``ndm_path`` (``resume``: continue a killed run in
    ``out``); returns the artifact."""
    cfg = dataclasses.replace(cfg or residual_train.ResidualConfig.load(), data=list(sim_data))
    ndm = load_model(ndm_path)
    residual_train.train(cfg, ndm, ndm.config.window, out, progress, resume=resume)
    return out / "residual.pt"


def eval_env_config(env_cfg: EnvConfig, reality: str, object_set: str, seed: int) -> EnvConfig:
    return dataclasses.replace(env_cfg, reality=reality, object_set=object_set, seed=1000 + seed,
                               randomization=dataclasses.replace(env_cfg.randomization, enabled=False))


def evaluate_variant(base: Path, residual: Path | None, reality: str, object_set: str, env_cfg: EnvConfig,
                     seeds=(0, 1, 2)) -> tuple[dict, list[str]]:
    """``summarize(...)`` of one variant on one object set (residual None = base only), and the
    objects the env left out (no grasp held with the canonical pose)."""
    records, skipped = [], []
    for seed in seeds:
        env = RotationEnv(eval_env_config(env_cfg, reality, object_set, seed))
        skipped = env.skipped_objects
        records.append(run_episodes(env, BaseResidualActor(env, base, residual)))
        env.stepper.close()
    return summarize(records), list(skipped)


def evaluate(base: Path, residuals: dict[str, Path | None], reality: str, object_sets: list[str],
             env_cfg: EnvConfig, seeds=(0, 1, 2)) -> dict:
    """{object set: {variant: summarize(...)}} for each variant (residual None = base only)."""
    return {object_set: {name: evaluate_variant(base, residual, reality, object_set, env_cfg, seeds)[0]
                         for name, residual in residuals.items()} for object_set in object_sets}


def report_markdown(results: dict, reality: str, skipped: dict[str, list[str]] | None = None) -> str:
    """Tables of ``results``; ``skipped`` names, per object set, the objects left out."""
    lines = [f"# Sim-to-sim in reality profile `{reality}`", "",
             "All axis groups together (mean ± std over seeds):", "",
             "| object set | variant | RotR | TTF | RotP |", "|---|---|---|---|---|"]
    for object_set, variants in results.items():
        for name, summary in variants.items():
            cells = [f"{summary['all'][k][0]:.2f} ± {summary['all'][k][1]:.2f}" for k in PLOT_METRICS]
            lines.append(f"| {object_set} | {name} | " + " | ".join(cells) + " |")
    lines.append("")
    for object_set, names in (skipped or {}).items():
        if names:
            lines += [f"Left out of `{object_set}` (no grasp held with the canonical pose): {', '.join(names)}", ""]
    for object_set, variants in results.items():
        for name, summary in variants.items():
            lines.append(markdown_table(summary, f"{object_set}: {name}"))
    return "\n".join(lines)


def plot(results: dict, path: Path, reality: str) -> None:
    """Bars per axis group and variant (error bars: std over seeds); a row per object set."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(results)
    fig, axes = plt.subplots(len(sets), len(PLOT_METRICS), figsize=(5 * len(PLOT_METRICS), 3.5 * len(sets)),
                             squeeze=False)
    for row, object_set in enumerate(sets):
        variants = results[object_set]
        groups = list(next(iter(variants.values())))
        width = 0.8 / len(variants)
        x = np.arange(len(groups))
        for col, metric in enumerate(PLOT_METRICS):
            ax = axes[row, col]
            for i, (name, summary) in enumerate(variants.items()):
                mean = [summary[g][metric][0] for g in groups]
                std = [summary[g][metric][1] for g in groups]
                ax.bar(x + (i - (len(variants) - 1) / 2) * width, mean, width, yerr=std, capsize=2, label=name)
            ax.set_xticks(x, groups)
            ax.set_title(f"{object_set}: {metric}")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"sim-to-sim, reality profile '{reality}'")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_report(results: dict, reality: str, out: Path, skipped: dict[str, list[str]] | None = None,
                 appendix: str = "") -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "sim2sim.json").write_text(json.dumps(results, indent=1))
    (out / "sim2sim.md").write_text(report_markdown(results, reality, skipped) + appendix)
    plot(results, out / "sim2sim.png", reality)


def compare_markdown(runs: dict[str, dict], joint: str = VARIANT_OF_KIND["joint"],
                     whole: str = VARIANT_OF_KIND["whole"]) -> str:
    """One row per run and object set: direct, joint-wise and whole-hand RotR / TTF (all axis
    groups), DexNDM's RotR ratio to direct transfer, and whether the bar of the paper's comparison
    holds (ratio >= 1.3, RotR >= whole-hand's, TTF >= direct's); then every variant of every run
    (UAN, ASAP, the robust and refined ones; a run trained in the identified sim is DexNDM on top
    of sysID, and its direct row is the sysID-only row: the base runs unchanged)."""
    lines = ["| run | object set | direct RotR / TTF | DexNDM RotR / TTF | whole-hand RotR / TTF "
             "| DexNDM / direct | bar met |", "|---|---|---|---|---|---|---|"]
    for name, results in runs.items():
        for object_set, variants in results.items():
            missing = [v for v in (DIRECT, joint, whole) if v not in variants]
            if missing:
                raise KeyError(f"run '{name}', object set '{object_set}': no results for {missing}")
            d, j, w = (variants[v]["all"] for v in (DIRECT, joint, whole))
            ratio = j["RotR"][0] / d["RotR"][0] if d["RotR"][0] > 0 else float("nan")
            met = ratio >= 1.3 and j["RotR"][0] >= w["RotR"][0] and j["TTF"][0] >= d["TTF"][0]
            cell = lambda m: f"{m['RotR'][0]:.1f} ± {m['RotR'][1]:.1f} / {m['TTF'][0]:.2f}"  # noqa: E731
            lines.append(f"| {name} | {object_set} | {cell(d)} | {cell(j)} | {cell(w)} | {ratio:.2f}x "
                         f"| {'yes' if met else 'no'} |")
    lines += ["", "Every row (all axis groups; RotR and TTF, and RotR as a multiple of direct transfer's):", "",
              "| run | object set | variant | RotR | TTF | RotR / direct |", "|---|---|---|---|---|---|"]
    for name, results in runs.items():
        for object_set, variants in results.items():
            direct = variants[DIRECT]["all"]["RotR"][0]
            for variant, summary in variants.items():
                m = summary["all"]
                ratio = f"{m['RotR'][0] / direct:.2f}x" if direct > 0 else "—"
                lines.append(f"| {name} | {object_set} | {variant} | {m['RotR'][0]:.1f} ± {m['RotR'][1]:.1f} "
                             f"| {m['TTF'][0]:.2f} ± {m['TTF'][1]:.2f} | {ratio} |")
    return "\n".join(lines) + "\n"


METHOD_COLUMNS = ("direct transfer", "sysID only", "UAN", "ASAP", "fine-tune control", "whole-hand NDM + residual",
                  "DexNDM", "DexNDM on sysID")


def method_markdown(runs: dict[str, dict], worlds: dict[str, tuple[str, str]]) -> str:
    """The paper's Table 6 layout: a row per reality profile and object set, a column per method
    (RotR ± std / TTF, all axis groups). ``worlds`` gives each run's (profile, sim world); a
    profile's run in the nominal sim gives direct transfer, UAN, ASAP, whole-hand and DexNDM, and
    its run in another sim world (the identified one of ``dexndm sysid``) gives DexNDM on sysID and
    the sysID-only row (there the base runs unchanged in the target, so it is its direct row)."""
    by_profile: dict[str, dict[str, dict]] = {}
    seen: dict[tuple[str, str], str] = {}
    for name, (profile, world) in worlds.items():
        kind = "nominal" if world == "nominal" else "sysid"
        if (profile, kind) in seen:
            raise ValueError(f"runs {seen[profile, kind]} and {name} both give {profile}'s {kind}-sim rows; "
                             "compare one of them at a time")
        seen[profile, kind] = name
        by_profile.setdefault(profile, {})[kind] = runs[name]
    lines = ["| profile | object set | " + " | ".join(METHOD_COLUMNS) + " |", "|---|---|" + "---|" * len(METHOD_COLUMNS)]
    for profile, pair in by_profile.items():
        nominal, sysid = pair.get("nominal", {}), pair.get("sysid", {})
        for object_set in dict.fromkeys([*nominal, *sysid]):
            n, s = nominal.get(object_set, {}), sysid.get(object_set, {})
            nominal_rows = (n.get(VARIANT_OF_KIND[k]) for k in ("uan", "asap", "finetune", "whole", "joint"))
            cells = [n.get(DIRECT), s.get(DIRECT), *nominal_rows, s.get(VARIANT_OF_KIND["joint"])]
            text = [f"{c['all']['RotR'][0]:.1f} ± {c['all']['RotR'][1]:.1f} / {c['all']['TTF'][0]:.2f}" if c else "—"
                    for c in cells]
            lines.append(f"| {profile} | {object_set} | " + " | ".join(text) + " |")
    lines += ["", "sysID only is the base policy run unchanged in the target (sysID changes only the sim that "
              "later phases train in), so it equals direct transfer; what sysID adds shows in DexNDM on sysID."]
    return "\n".join(lines) + "\n"


def _run_world(run: Path) -> tuple[str, str] | None:
    """(profile name, sim world) of a ``dexndm sim2sim`` run folder, from its ``pipeline.yaml``."""
    path = run / "pipeline.yaml"
    if not path.exists():
        return None
    settings = yaml.safe_load(path.read_text())
    return settings["profile"].get("name", run.name), settings["pipeline"].get("sim_world", "nominal")


def run_pipeline(base: Path, reality: str, steps: Steps, sim_data: list[str], out: Path, object_sets: list[str],
                 env_cfg: EnvConfig, kinds=("joint", "whole"), seeds=(0, 1, 2), ndm_cfg: NdmConfig | None = None,
                 residual_cfg: residual_train.ResidualConfig | None = None) -> dict:
    """Fit target-world NDMs, train a residual through each, evaluate against direct transfer."""
    residuals: dict[str, Path | None] = {DIRECT: None}
    for kind in kinds:
        ndm_path = fit_target_ndm(steps, kind, out / f"ndm_{kind}", ndm_cfg)
        residuals[VARIANT_OF_KIND[kind]] = train_residual(ndm_path, sim_data, out / f"residual_{kind}", residual_cfg,
                                                          resume=True)
    results = evaluate(base, residuals, reality, object_sets, env_cfg, seeds)
    write_report(results, reality, out)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Sim-to-sim study of base + residual in a reality profile.")
    sub = ap.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval", help="evaluate direct transfer and given residual artifacts")
    ev.add_argument("--residual", action="append", default=[], metavar="NAME=PATH",
                    help="a residual artifact; NAME joint|finger|whole or any label (repeatable)")
    pipe = sub.add_parser("pipeline", help="fit NDMs, train residuals, evaluate")
    pipe.add_argument("--steps", required=True, type=Path, help="target-world control steps (.npz or bag dir)")
    pipe.add_argument("--sim-data", nargs="+", required=True, help="base policy rollout datasets (nominal sim)")
    pipe.add_argument("--kinds", nargs="+", default=["joint", "whole"], choices=["finger", "joint", "whole"])
    pipe.add_argument("--ndm-config", default="ndm")
    pipe.add_argument("--residual-config", default="residual")
    cmp_ = sub.add_parser("compare", help="one table of finished runs (their sim2sim.json)")
    cmp_.add_argument("runs", nargs="+", type=Path, help="run folders holding sim2sim.json")
    for p in (ev, pipe):
        p.add_argument("--base", required=True, type=Path, help="base policy artifact")
        p.add_argument("--reality", required=True, help="config/reality/<name>.yaml: the target world")
        p.add_argument("--object-sets", nargs="+", default=["normal_cylinders"])
        p.add_argument("--wrists", nargs="+", default=["palm_up"])
        p.add_argument("--axis-set", default="xyz")
        p.add_argument("--num-envs", type=int, default=64)
        p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        p.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    if args.command == "compare":
        runs = {}
        for run in args.runs:
            path = run / "sim2sim.json"
            if not path.exists():
                ap.error(f"{path}: no sim2sim.json (is the run finished?)")
            runs[run.name] = json.loads(path.read_text())
        try:
            table = compare_markdown(runs)
        except KeyError as e:
            ap.error(str(e.args[0]))
        worlds = {run.name: w for run in args.runs if (w := _run_world(run)) is not None}
        if worlds:           # runs of ``dexndm sim2sim``: the methods side by side first
            print("By method (the paper's Table 6 layout):\n\n" + method_markdown(runs, worlds) + "\nBy run:\n")
        print(table, end="")
        return 0
    env_cfg = EnvConfig(num_envs=args.num_envs, wrists=list(args.wrists), axis_set=args.axis_set)
    if args.command == "eval":
        residuals: dict[str, Path | None] = {DIRECT: None}
        for item in args.residual:
            name, sep, path = item.partition("=")
            if not sep:
                ap.error(f"--residual wants NAME=PATH, got {item!r}")
            residuals[VARIANT_OF_KIND.get(name, name)] = Path(path)
        results = evaluate(args.base, residuals, args.reality, args.object_sets, env_cfg, args.seeds)
        write_report(results, args.reality, args.out)
    else:
        ndm_cfg = NdmConfig.load(args.ndm_config)
        results = run_pipeline(args.base, args.reality, load_steps(args.steps, ndm_cfg.ingest), args.sim_data,
                               args.out, args.object_sets, env_cfg, args.kinds, args.seeds, ndm_cfg,
                               residual_train.ResidualConfig.load(args.residual_config))
    print((args.out / "sim2sim.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
