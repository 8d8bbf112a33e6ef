"""Evaluate any rotation policy in the paper's Table 1 layout: wrists x axis groups, GO Succ.

    dexndm-learn eval-policy --policy models/generalist/base.pt --object-set test \\
        --wrists random named --axes x y z general --num-envs 128 --out outputs/table1
    dexndm-learn eval-policy --policy models/specialists/cyl_palm_up --conditions models/specialists/cyl_palm_up

``--policy`` is a deployable policy file (the generalist, a base + residual artifact) or a
specialist run folder (``config.yaml`` + ``checkpoint.pt``: the teacher itself). The conditions
(randomization, disturbances, reality profile, episode length) are a specialist run's
(``--conditions``) or the environment's defaults (training randomization and disturbances on),
then the object set, wrists, axis sets and start (``--start-orientation``, ``--start-axis``,
``--start-offset``: how and where objects start in the hand) given here replace that run's. So the
generalist and a teacher on the teacher's own conditions are two calls of this command with the
same ``--conditions``, and a teacher from starts it was not trained on is one call.
``--start-orientation rotation-axis`` starts each cell's objects with their long axis along the
cell's rotation axis (x, y, z or one direction), the start issue 17's six-wrist teachers train
from, so a generalist distilled from them is measured per axis group from its teachers' start
(GO Succ runs in the first axis set's cells, so from objects along that set's axis:
``goal_start_axis`` in ``metrics.json``).

Each (wrist setting, axis set) cell is ``num_envs`` synchronized episodes per seed, as in
``eval-specialist``; GO Succ is one goal-oriented evaluation per (wrist setting, seed). Writes
``metrics.json`` (every cell, each principal direction on its own, per-seed values), ``metrics.md``
(Table 1: a row per wrist setting, plus the mean over the six named wrists when all six ran) and
one PNG per axis group (RotR per wrist setting and the fraction of objects still held over time).
Each finished cell is kept in ``<out>/cells/``; a rerun of the same command resumes from them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from dexndm_learning.rl.cell_cache import CellCache, policy_sha256
from dexndm_learning.rl.evaluate import EpisodeRecord, artifact_actor, episode_metrics, run_episodes, \
    run_goal_episodes, specialist_actor
from dexndm_learning.sim import metrics
from dexndm_learning.sim.axes import PRINCIPAL, axis_direction, axis_group, axis_set
from dexndm_learning.sim.grasps import ALONG_ROTATION_AXIS, OBJECT_ORIENTATIONS, rotation_axis_line, start_suffix
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.reality import load_profile
from dexndm_learning.sim.rotation_env import EnvConfig
from dexndm_learning.sim.wrist import NAMED_WRISTS

AXIS_GROUPS = {"x": "+-x", "y": "+-y", "z": "+-z", "general": "general"}
METRICS = ("RotR", "TTF", "RotP")
SIX_NAMED = "six named (mean)"


def expand_wrists(names: list[str]) -> list[str]:
    """``named`` stands for the six named wrists; ``random`` and single named wrists stay."""
    out: list[str] = []
    for n in names:
        for w in (NAMED_WRISTS if n == "named" else [n]):
            if w != "random" and w not in NAMED_WRISTS:
                raise ValueError(f"--wrists: unknown wrist '{w}'; valid: random, named, {', '.join(NAMED_WRISTS)}")
            if w not in out:
                out.append(w)
    return out


def make_actor_factory(policy: Path, base_env: EnvConfig, num_envs: int):
    """``(env overrides, seed) -> (env, act)`` for a policy file or a specialist run folder, under
    ``base_env``'s conditions."""
    if policy.is_dir():
        if not (policy / "config.yaml").exists() or not (policy / "checkpoint.pt").exists():
            raise FileNotFoundError(f"--policy: {policy} is a folder without config.yaml and checkpoint.pt")
        fixed = _condition_fields(base_env)

        def factory(overrides: dict, seed: int):
            return specialist_actor(policy, num_envs, seed, {**fixed, **overrides})
        return factory
    if not policy.exists():
        raise FileNotFoundError(f"--policy: {policy} does not exist")

    def factory(overrides: dict, seed: int):
        env_cfg = dataclasses.replace(EnvConfig(), num_envs=num_envs, **{**_condition_fields(base_env), **overrides})
        return artifact_actor(policy, env_cfg, seed)
    return factory


def _condition_fields(env: EnvConfig) -> dict:
    """The conditions of a run that another policy is evaluated under: the world, not the policy's
    own settings (action scale, history) nor the env's size, seed or threads."""
    keep = ("episode_steps", "joint_noise", "disturbance_scale", "disturbance_prob", "drop_distance", "hand",
            "hand_overrides", "reality", "randomization", "grasp", "object_set", "object_seed", "wrists",
            "random_wrist_pool", "axis_set")
    return {k: getattr(env, k) for k in keep}


def along_rotation_axis(grasp):
    """Per-cell env overrides that start objects along the cell's rotation axis."""
    return lambda axes: {"grasp": dataclasses.replace(grasp, object_orientation="axis",
                                                      object_axis=rotation_axis_line(axes))}


def start_title(grasp, along_axis: bool) -> str:
    """The start's suffix for titles (``grasps.start_suffix``), with the per-cell axis start named."""
    if not along_axis:
        return start_suffix(grasp)
    rest = start_suffix(dataclasses.replace(grasp, object_orientation="random", object_axis=(0.0, 0.0, 1.0)))
    return ", start along each rotation axis" + rest.replace(", start", ",", 1)


def cell_values(rec: EpisodeRecord) -> dict[str, dict[str, float]]:
    """{axis group or direction: {metric: mean over episodes}} of one seed's episodes."""
    m = episode_metrics(rec)
    keys = {}
    for i, a in enumerate(rec.axis_world):
        for k in (axis_group(a), axis_direction(a)):
            if k:
                keys.setdefault(k, []).append(i)
    return {k: {name: float(m[name][ids].mean()) for name in METRICS} for k, ids in keys.items()}


def run_cell(factory, wrist: str, axes: str, seed: int, steps: int | None, goal: bool, cell_env=None) -> dict:
    """One (wrist, axis set, seed) cell: {'values': cell_values, 'survival': fraction held per step,
    'go': GO Succ or None, 'skipped': objects left out}."""
    env, act = factory({"wrists": [wrist], "axis_set": axes, **(cell_env(axes) if cell_env else {})}, seed)
    try:
        rec = run_episodes(env, act, steps)
        go = float(run_goal_episodes(env, act, np.random.default_rng(seed), steps).mean()) if goal else None
        return {"values": cell_values(rec), "survival": rec.alive.mean(0).tolist(), "go": go,
                "skipped": list(env.skipped_objects)}
    finally:
        env.stepper.close()


def evaluate_table(factory, wrists: list[str], axes: list[str], seeds, steps: int | None = None,
                   goal: bool = True, cell_env=None, cache: CellCache | None = None) -> tuple[dict, dict]:
    """Run every cell (``cell_env(axes)``: more env overrides for an axis set's cells; GO Succ in the
    first axis set's; cells already in ``cache`` are read, not rerun); returns (per-seed values
    {'cells': {wrist: {group: {metric: [per seed]}}}, 'GO_Succ': {wrist: [per seed]}}, survival
    curves {wrist: {group: fraction held per step}})."""
    values: dict = {"cells": {}, "GO_Succ": {}}
    survival: dict = {}
    for w in wrists:
        for a in axes:
            for seed in seeds:
                cell = cache.load(w, a, seed) if cache else None
                if cell is None:
                    cell = run_cell(factory, w, a, seed, steps, goal and a == axes[0], cell_env)
                    if cache:
                        cache.save(w, a, seed, cell)
                for k, d in cell["values"].items():
                    for name, v in d.items():
                        values["cells"].setdefault(w, {}).setdefault(k, {}).setdefault(name, []).append(v)
                group = AXIS_GROUPS.get(a) or (axis_group(axis_set(a)[0]) if a in PRINCIPAL else a)
                survival.setdefault(w, {}).setdefault(group, []).append(np.asarray(cell["survival"]))
                if cell["go"] is not None:
                    values["GO_Succ"].setdefault(w, []).append(cell["go"])
                if cell["skipped"]:
                    values["skipped_objects"] = sorted(set(values.get("skipped_objects", [])) | set(cell["skipped"]))
    if all(w in wrists for w in NAMED_WRISTS):
        values["cells"][SIX_NAMED] = _mean_over_wrists([values["cells"][w] for w in NAMED_WRISTS])
        if goal:
            values["GO_Succ"][SIX_NAMED] = list(np.mean([values["GO_Succ"][w] for w in NAMED_WRISTS], axis=0))
    return values, {w: {g: np.mean(c, axis=0) for g, c in d.items()} for w, d in survival.items()}


def _mean_over_wrists(cells: list[dict]) -> dict:
    """Per seed, the mean over wrists of each (group, metric) every wrist has."""
    groups = set.intersection(*(set(c) for c in cells))
    return {g: {m: list(np.mean([c[g][m] for c in cells], axis=0)) for m in METRICS} for g in sorted(groups)}


def summarize_table(values: dict) -> dict:
    """The per-seed values as (mean, std over seeds)."""
    out = {"cells": {w: {g: {m: metrics.mean_std(v) for m, v in d.items()} for g, d in groups.items()}
                     for w, groups in values["cells"].items()},
           "GO_Succ": {w: metrics.mean_std(v) for w, v in values["GO_Succ"].items()}}
    if "skipped_objects" in values:
        out["skipped_objects"] = values["skipped_objects"]
    return out


def markdown(summary: dict, title: str) -> str:
    """Table 1 (axis groups) and the same by direction (a policy may turn one sense only)."""
    cells, go = summary["cells"], summary["GO_Succ"]
    groups = [g for g in ("+-x", "+-y", "+-z", "general") if any(g in d for d in cells.values())]
    dirs = [d for d in ("+x", "-x", "+y", "-y", "+z", "-z") if any(d in c for c in cells.values())]

    def cell(d, g, m):
        return f"{d[g][m][0]:.2f} ± {d[g][m][1]:.2f}" if g in d else "—"

    lines = [f"**{title}**", ""]
    for heads, title2 in ((groups, "axis group"), (dirs, "direction")):
        if not heads:
            continue
        cols = [f"{h} {m}" for h in heads for m in METRICS] + (["GO Succ (%)"] if go and title2 == "axis group" else [])
        lines += [f"| wrists \\ {title2} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for w, d in cells.items():
            row = [cell(d, h, m) for h in heads for m in METRICS]
            if go and title2 == "axis group":
                row.append(f"{100 * go[w][0]:.1f} ± {100 * go[w][1]:.1f}" if w in go else "—")
            lines.append(f"| {w} | " + " | ".join(row) + " |")
        lines.append("")
    if summary.get("skipped_objects"):
        lines.append(f"Left out (no grasp held with the canonical pose): {', '.join(summary['skipped_objects'])}\n")
    return "\n".join(lines)


def plot_groups(summary: dict, survival: dict, out_dir: Path, title: str) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for g in ("+-x", "+-y", "+-z", "general"):
        rows = [(w, d[g]) for w, d in summary["cells"].items() if g in d]
        if not rows:
            continue
        fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4))
        ax0.bar(range(len(rows)), [r["RotR"][0] for _, r in rows], yerr=[r["RotR"][1] for _, r in rows], capsize=3)
        ax0.set_xticks(range(len(rows)), [w for w, _ in rows], rotation=30, ha="right")
        ax0.set(ylabel="RotR", title=f"{g}: RotR per wrist setting (mean ± std over seeds)")
        for w, curves in survival.items():
            if g in curves:
                t = np.arange(len(curves[g])) * metrics.CONTROL_DT
                ax1.plot(t, curves[g], label=w)
        ax1.set(xlabel="time (s)", ylabel="fraction still held", ylim=(0, 1.05), title=f"{g}: survival")
        ax1.legend(fontsize=7)
        fig.suptitle(title)
        fig.tight_layout()
        path = out_dir / f"{g.replace('+-', 'pm_')}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths


def conditions_env(conditions: Path | None, object_set: str | None = None, start_orientation: str | None = None,
                   start_offset=None, start_axis=None, grasp_candidates: int | None = None) -> EnvConfig:
    """The environment a policy is evaluated in: a specialist run's (or the defaults), with the
    object set, the start (object orientation and axis, grasp centre offset) and the start grasps
    sampled per (object, wrist) replaced where given."""
    if conditions is not None:
        from dexndm_learning.rl.specialist import run_config

        base = run_config(conditions).env
    else:
        base = EnvConfig()
    if object_set:
        base = dataclasses.replace(base, object_set=object_set)
    grasp = {}
    if start_orientation == ALONG_ROTATION_AXIS:
        if start_axis is not None:
            raise ValueError(f"--start-axis: not with --start-orientation {ALONG_ROTATION_AXIS} "
                             "(each cell's rotation axis is its start axis)")
    elif start_orientation is not None:
        grasp["object_orientation"] = start_orientation
    if start_offset is not None:
        grasp["centre_offset"] = tuple(float(v) for v in start_offset)
    if grasp_candidates is not None:
        if grasp_candidates < 1:
            raise ValueError(f"--grasp-candidates: {grasp_candidates}; give at least 1 candidate per (object, wrist)")
        grasp["candidates"] = grasp_candidates
    if start_axis is not None:
        grasp["object_axis"] = tuple(float(v) for v in start_axis)
    elif start_orientation not in (None, "axis", ALONG_ROTATION_AXIS):
        grasp["object_axis"] = (0.0, 0.0, 1.0)
    if grasp:
        base = dataclasses.replace(base, grasp=dataclasses.replace(base.grasp, **grasp))
    return base


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Evaluate a policy file or specialist run in the paper's Table 1 layout.")
    ap.add_argument("--policy", required=True, help="deployable policy file, or a specialist run folder")
    ap.add_argument("--conditions", default=None,
                    help="specialist run folder whose env conditions (randomization, disturbances, reality, object "
                         "set, wrists, axes) are the starting point; default: the environment's defaults")
    ap.add_argument("--object-set", default=None, help="object set (default: the conditions', e.g. test for unseen)")
    ap.add_argument("--wrists", nargs="+", default=None,
                    help="wrist settings: random, named (the six), or named wrists (default: the conditions')")
    ap.add_argument("--axes", nargs="+", default=None,
                    help="axis sets, one cell each: x y z general, or single directions (default: the conditions')")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--num-envs", type=int, default=128)
    ap.add_argument("--steps", type=int, default=None, help="episode length (default: the conditions')")
    ap.add_argument("--start-orientation", choices=(*OBJECT_ORIENTATIONS, ALONG_ROTATION_AXIS), default=None,
                    help="how objects start: random (any orientation), upright (local z against gravity), "
                         "axis (local z along --start-axis) or rotation-axis (local z along each cell's "
                         "rotation axis) (default: the conditions')")
    ap.add_argument("--start-axis", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                    help="world direction of the object's local z with --start-orientation axis")
    ap.add_argument("--start-offset", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                    help="start grasp centre relative to the canonical one, hand frame, m; (-0.02 0 -0.03) rests "
                         "the object on the palm (default: the conditions')")
    ap.add_argument("--grasp-candidates", type=int, default=None,
                    help="start grasps sampled per (object, wrist) (default: the conditions', 128); random wrists "
                         "sample this many for each of their pool of wrists, so fewer makes their grasps far cheaper")
    ap.add_argument("--no-goal", action="store_true", help="skip the goal-oriented (GO Succ) episodes")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    policy = Path(args.policy)
    # A specialist run is evaluated under its own conditions unless others are given.
    conditions = Path(args.conditions) if args.conditions else (policy if policy.is_dir() else None)
    base = conditions_env(conditions, args.object_set, args.start_orientation, args.start_offset, args.start_axis,
                          args.grasp_candidates)
    wrists = expand_wrists(args.wrists or base.wrists)
    axes = args.axes or [base.axis_set]
    along_axis = args.start_orientation == ALONG_ROTATION_AXIS
    cell_env = along_rotation_axis(base.grasp) if along_axis else None
    for name, given in (("--axes", axes), ("--seeds", args.seeds)):
        if len(set(given)) < len(given):
            raise ValueError(f"{name}: repeated values {list(given)} would count those cells twice")
    for a in axes:                                    # refused before any cell runs
        axis_set(a)
        if along_axis:
            rotation_axis_line(a)
    factory = make_actor_factory(policy, base, args.num_envs)
    out = Path(args.out)
    identity = {"policy_sha256": policy_sha256(policy), "env": dataclasses.asdict(base), "along_axis": along_axis,
                "hand": dataclasses.asdict(HandConfig.load(base.hand, base.hand_overrides)),
                "reality": dataclasses.asdict(load_profile(base.reality)),
                "steps": args.steps, "num_envs": args.num_envs, "goal_axes": None if args.no_goal else axes[0]}
    values, survival = evaluate_table(factory, wrists, axes, args.seeds, args.steps, goal=not args.no_goal,
                                      cell_env=cell_env, cache=CellCache(out / "cells", identity))
    summary = summarize_table(values)
    title = (f"{policy.name} on {base.object_set}" + (f", {conditions.name} conditions" if conditions else "")
             + start_title(base.grasp, along_axis))
    out.mkdir(parents=True, exist_ok=True)
    meta = {"policy": str(policy), "conditions": str(conditions) if conditions else None,
            "object_set": base.object_set, "wrists": wrists, "axes": axes, "seeds": args.seeds,
            "num_envs": args.num_envs,
            "start_orientation": ALONG_ROTATION_AXIS if along_axis else base.grasp.object_orientation,
            "start_axis": None if along_axis else list(base.grasp.object_axis),
            "goal_start_axis": list(rotation_axis_line(axes[0])) if along_axis and not args.no_goal else None,
            "start_offset": list(base.grasp.centre_offset)}
    (out / "metrics.json").write_text(json.dumps({**meta, **summary, "per_seed": values}, indent=2))
    table = markdown(summary, title)
    (out / "metrics.md").write_text(table)
    plot_groups(summary, survival, out, title)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
