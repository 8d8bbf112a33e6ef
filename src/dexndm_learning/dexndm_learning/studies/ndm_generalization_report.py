"""Tables (``results.md``) and plots of the NDM generalization study (``studies.ndm_generalization``),
from its ``results.json`` structure; works on partial results (models still to come are left out)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dexndm_learning.ndm.evaluate import HORIZONS

KIND_NAMES = {"joint": "joint-wise", "finger": "finger-wise", "whole": "whole-hand"}
DEFAULT_BALLS = "about 130"
IN_DOMAIN = "chaos_box_test"     # the name of the in-domain test set


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.2e}"


def _sizes(results: dict) -> list[str]:
    """Data sizes with at least one evaluated model, smallest first."""
    sizes = results["study"]["train_sizes"]
    return [s for s in sorted(sizes, key=sizes.get) if s in results["models"]]


def _set_label(results: dict, name: str) -> str:
    return f"{name} ({results['sets'][name]['kind']})"


def _metric(results: dict, size: str, kind: str, test_set: str, horizon: str | None = None):
    """One-step MSE (``horizon`` None) or open-loop MSE at ``horizon``; None if not available."""
    ev = results["models"].get(size, {}).get(kind, {}).get("eval", {}).get(test_set)
    if ev is None:
        return None
    return ev["one_step"] if horizon is None else ev["rollout"].get(horizon)


def _setup(results: dict) -> list[str]:
    st, sets = results["study"], results["sets"]
    actions = results.get("actions", {})
    if results["rollouts"]:
        source = f"the rollout dataset `{results['rollouts']}`"
    elif results.get("policy_is_file"):
        source = (f"rollouts of the policy `{results['policy_run']}` in nominal sim ({st['object_set']}, axes "
                  f"{st['axis_set']}, start {st['start_orientation']}, offset {st['start_offset']} m)")
    else:
        source = f"rollouts of the policy `{results['policy_run']}` in nominal sim (its training conditions)"
    sizes = ", ".join(f"{s} = {t['segments']} trajectories ({t['transitions']:,} transitions)"
                      for s, t in results["train_sets"].items())
    lines = [
        f"- **Reality**: profile `{st['profile']}` ({results.get('profile_description', '')}). Every data set "
        "below is recorded in it; it plays the real hand.",
        "- **Joint positions** are the *measured* ones (the profile's sensor model: per-joint bias and "
        "noise), for the model inputs and the predicted next positions alike, as a real robot records them.",
        f"- **Training data (Chaos Box)**: the hand buried in {st['n_balls'] or DEFAULT_BALLS} soft balls at "
        f"wrists {', '.join(st['box_wrists'])}; open-loop replay of base-policy action trajectories from "
        f"{source} ({actions.get('trajectories', '?')} distinct trajectories of {st['traj_steps']} steps); "
        f"Gaussian noise (sigma {st['noise_sigma']} rad) on every replayed target of a trajectory "
        f"with probability {st['noise_prob']}. Sizes: {sizes or 'not collected yet'}; each smaller set is "
        "part of the larger one.",
    ]
    if st["traj_steps"] < 400:
        lines.append(f"- Chaos Box trajectories have {st['traj_steps']} steps instead of the paper's 400, so "
                     "this preset fits its CPU budget; the data sizes count trajectories of that length.")
    if IN_DOMAIN in sets:
        s = sets[IN_DOMAIN]
        lines.append(f"- **In-domain test** `{IN_DOMAIN}`: {s['segments']} held-out Chaos Box trajectories (other "
                     f"action trajectories, other ball scenes), same wrists: {s['transitions']:,} transitions.")
    for name, s in sets.items():
        if s["kind"] != "OOD":
            continue
        seen = "also in" if s["wrist_in_chaos_box"] else "absent from"
        lines.append(
            f"- **OOD test** `{name}`: {s['source']} rotating objects in `RotationEnv`, wrist {s['wrist']} "
            f"({seen} the Chaos Box data), no training randomization or disturbances: {s['segments']} episodes "
            f"of up to {s['episode_steps']} steps ({s['full_length_episodes']} ran the full length, the others "
            f"dropped the object), {s['transitions']:,} transitions.")
        if "open loop" in s["source"]:
            lines.append("  Without a policy the recorded actions run open loop, so nothing keeps the object "
                         "in hand: a weaker stand-in for task data than closed-loop rotation.")
    lines += [
        f"- **Models**: joint-wise (16 networks), finger-wise (4), whole-hand (1); each network "
        f"{st['depth']} hidden layers of {st['width']}, window {st['window']}; all trained {st['epochs']} "
        f"epochs, batch {st['batch_size']}, keeping the checkpoint with the lowest loss on a 10 % split of "
        "the training data.",
        "- **Errors**: MSE (rad^2) averaged over the 16 joints. One step: true history -> next q, over all "
        "transitions. Open loop at h steps: from up to 4,096 starts, the model is fed its own predictions "
        "as q (with the true commanded targets) and scored at step h.",
    ]
    lines += [f"- Note: {n}" for n in results["notes"]]
    return lines


def _tables(results: dict) -> list[str]:
    sets = list(results["sets"])
    lines = ["## One-step MSE (rad^2)", "",
             "| data | model | " + " | ".join(_set_label(results, s) for s in sets) + " |",
             "|---|---|" + "---|" * len(sets)]
    for size in _sizes(results):
        for kind in results["models"][size]:
            cells = [_fmt(_metric(results, size, kind, s)) for s in sets]
            lines.append(f"| {size} | {KIND_NAMES[kind]} | " + " | ".join(cells) + " |")
    lines += ["", "## Open-loop MSE (rad^2) by horizon (steps)", ""]
    for s in sets:
        lines += [f"### {_set_label(results, s)}", "",
                  "| data | model | 1 step | " + " | ".join(f"open loop {h}" for h in HORIZONS) + " |",
                  "|---|---|---|" + "---|" * len(HORIZONS)]
        for size in _sizes(results):
            for kind in results["models"][size]:
                cells = [_fmt(_metric(results, size, kind, s))]
                cells += [_fmt(_metric(results, size, kind, s, str(h))) for h in HORIZONS]
                lines.append(f"| {size} | {KIND_NAMES[kind]} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _ratios(results: dict) -> list[str]:
    """Errors of the other models relative to the joint-wise model's (> 1: joint-wise is better)."""
    longest = str(max(HORIZONS))
    lines = ["## Relative to joint-wise", "",
             f"Error of each model divided by the joint-wise model's (> 1: joint-wise is better), one step "
             f"and open loop at {longest} steps.", "",
             "| data | test set | model | one step | open loop " + longest + " |", "|---|---|---|---|---|"]
    for size in _sizes(results):
        for s in results["sets"]:
            for kind in results["models"][size]:
                if kind == "joint":
                    continue
                cells = []
                for h in (None, longest):
                    ref, x = _metric(results, size, "joint", s, h), _metric(results, size, kind, s, h)
                    cells.append("–" if ref is None or x is None or ref == 0 else f"{x / ref:.2f}")
                lines.append(f"| {size} | {s} | {KIND_NAMES[kind]} | " + " | ".join(cells) + " |")
    return lines + [""]


def markdown(results: dict) -> str:
    lines = ["# NDM generalization, sim-to-sim: joint-wise vs finger-wise vs whole-hand", "",
             "The paper's comparison of Fig. 6 / Sec. 4.2 in simulation: models trained on Chaos Box data of "
             "a \"real\" hand, tested in-domain (held-out Chaos Box data) and out of distribution "
             "(task-relevant rotation transitions of the same hand).", ""]
    if results.get("command"):
        lines += [f"Generated by `{results['command']}`; `results.json` holds every number.", ""]
    lines += ["## Setup", ""] + _setup(results) + [""]
    if _sizes(results):
        lines += _tables(results) + _ratios(results)
        lines += ["## Plots", "", "![one-step MSE, in-domain vs OOD](one_step_bars.png)", "",
                  "![open-loop MSE by horizon](rollout_errors.png)", ""]
    if results["timings_s"]:
        lines += ["## Run time", "", "| phase | s |", "|---|---|"]
        lines += [f"| {k} | {v:.0f} |" for k, v in results["timings_s"].items()]
        lines += [f"| total | {sum(results['timings_s'].values()):.0f} |", ""]
    return "\n".join(lines)


def plot_one_step(results: dict, path: Path) -> None:
    """Bars per data size: one-step MSE of each model on each test set (log scale)."""
    import matplotlib.pyplot as plt

    sizes, sets = _sizes(results), list(results["sets"])
    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4), squeeze=False, sharey=True)
    width = 0.8 / len(sets)
    for ax, size in zip(axes[0], sizes):
        kinds = list(results["models"][size])
        x = np.arange(len(kinds))
        for i, s in enumerate(sets):
            values = [_metric(results, size, k, s) or np.nan for k in kinds]
            ax.bar(x + (i - (len(sets) - 1) / 2) * width, values, width, label=_set_label(results, s))
        ax.set_xticks(x, [KIND_NAMES[k] for k in kinds])
        t = results["train_sets"][size]
        ax.set_title(f"{size}: {t['segments']} trajectories ({t['transitions']:,} transitions)", fontsize=10)
        ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("one-step MSE (rad$^2$)")
    axes[0, 0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_rollouts(results: dict, path: Path) -> None:
    """Open-loop MSE vs horizon: a row per test set, a column per data size, a line per model."""
    import matplotlib.pyplot as plt

    sizes, sets = _sizes(results), list(results["sets"])
    fig, axes = plt.subplots(len(sets), len(sizes), figsize=(5 * len(sizes), 3.2 * len(sets)),
                             squeeze=False, sharex=True)
    for r, s in enumerate(sets):
        for c, size in enumerate(sizes):
            ax = axes[r, c]
            for kind in results["models"][size]:
                values = [_metric(results, size, kind, s, str(h)) for h in HORIZONS]
                ax.plot(HORIZONS, [np.nan if v is None else v for v in values], "o-", label=KIND_NAMES[kind])
            ax.set_yscale("log")
            ax.set_title(f"{s}, {size} data", fontsize=10)
            ax.grid(alpha=0.3)
        axes[r, 0].set_ylabel("MSE (rad$^2$)")
    for ax in axes[-1]:
        ax.set_xlabel("open-loop horizon (steps)")
        ax.set_xticks(HORIZONS)
    axes[0, 0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(markdown(results))
    if _sizes(results):
        plot_one_step(results, out / "one_step_bars.png")
        plot_rollouts(results, out / "rollout_errors.png")
