"""Issue 17's tables from the committed specialist runs: results against the bars, and CPU time.

    dexndm-learn specialist-table [--models models/specialists] [--out docs/specialists]

For every run folder with an ``eval/metrics.json`` (written by ``eval-specialist``: 3 seeds x 128
episodes under the training conditions), a row per sense, or per axis group for a run trained on
random wrists, in the paper's layout (RotR, TTF, RotP, GO Succ; mean +- std over seeds), with the
issue's bar for its object set and wrist beside it and whether it is met. A run without an
evaluation is listed as such, not left out. The six-wrist table puts together the runs on normal
cylinders under named wrists (all six, a group of them, or one) on hand v2: every (wrist, sense)
cell from the runs that train that sense under that wrist, and per axis group the mean over the
six wrists and both senses, the issue's bar. The CPU table gives each run's training wall time
and env steps (``progress.csv``), and core-hours: wall time x the cores the run kept busy (its
MuJoCo threads, or the PPO update's torch threads where more). Writes ``table.md`` and prints it.
"""
from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path

from dexndm_learning.sim.axes import PRINCIPAL, axis_direction, axis_group, axis_set
from dexndm_learning.sim.grasps import start_suffix
from dexndm_learning.sim.wrist import NAMED_WRISTS


@dataclass(frozen=True)
class Bar:
    groups: tuple[str, ...]     # the metrics.json groups the bar applies to, each on its own
    rotr: float
    ttf: float
    what: str


SIX_WRIST_MEAN = "six-wrist mean per axis group"


def _six_named(wrists: list[str]) -> bool:
    return sorted(wrists) == sorted(NAMED_WRISTS)


def bar_for(object_set: str, wrists: list[str]) -> Bar | None:
    """Issue 17's bar for a specialist trained on ``object_set`` under ``wrists`` (None: no bar)."""
    if object_set == "normal_cylinders" and (wrists == ["random"] or _six_named(wrists)):
        return Bar(("+-x", "+-y", "+-z"), 80, 0.65, SIX_WRIST_MEAN)
    if wrists == ["palm_up"] and object_set == "normal_cylinders":
        return Bar(("+z", "-z"), 150, 0.85, "each sense")
    if wrists == ["palm_down"] and object_set == "normal_cylinders":
        return Bar(("+z", "-z"), 100, 0.70, "each sense")
    if wrists == ["palm_up"] and object_set in ("normal_cuboids", "small_cylinders", "long_cuboids", "complex"):
        return Bar(("+z", "-z"), 100, 0.75, "each sense")
    return None


def _mean_std(metrics: dict, group: str, key: str, digits: int) -> str:
    mean, std = metrics[group][key]
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def run_rows(run: Path) -> list[str]:
    """Markdown rows of one run folder."""
    from dexndm_learning.rl.specialist import run_config, run_hand_version

    env = run_config(run).env
    object_set, wrists = env.object_set, list(env.wrists)
    version = run_hand_version(run)
    bar = bar_for(object_set, wrists)
    wrist_text = "six named wrists" if _six_named(wrists) else " / ".join(wrists)
    head = f"`{run.name}` | {object_set}, {wrist_text}, hand {version}{start_suffix(env.grasp)}"
    metrics_file = run / "eval" / "metrics.json"
    if not metrics_file.exists():
        return [f"| {head} | - | not evaluated (no eval/metrics.json) | | | | | no |"]
    metrics = json.loads(metrics_file.read_text())
    groups = bar.groups if bar else tuple(g for g in ("+z", "-z", "+-z") if g in metrics)
    if bar and bar.what == SIX_WRIST_MEAN:
        groups = trained_groups(env.axis_set, bar.groups)
    go = metrics.get("goal", {}).get("GO_Succ", [0.0, 0.0])[0]
    rows = []
    for g in groups:
        if g not in metrics:
            rows.append(f"| {head} | {g} | not in the evaluation | | | | | no |")
            continue
        rotr, ttf = metrics[g]["RotR"][0], metrics[g]["TTF"][0]
        if bar:
            bar_text = f"RotR >= {bar.rotr:g}, TTF >= {bar.ttf:g} ({bar.what})"
            met = "yes" if rotr >= bar.rotr and ttf >= bar.ttf else "no"
        else:
            bar_text, met = "none set", "-"
        rows.append(f"| {head} | {g} | {_mean_std(metrics, g, 'RotR', 1)} | {_mean_std(metrics, g, 'TTF', 2)} | "
                    f"{metrics[g]['RotP'][0]:.2f} | {100 * go:.1f} % | {bar_text} | {met} |")
    return rows


def trained_groups(axis_set_name: str, groups: tuple[str, ...]) -> tuple[str, ...]:
    """Of the bar's axis groups, those the run trains on; a group trained in one sense only is
    named by that sense (``+x``), since its other half is another run's."""
    axes = axis_set(axis_set_name)
    out = []
    for g in groups:
        senses = [axis_direction(a) for a in axes if axis_group(a) == g]
        if senses:
            out.append(senses[0] if len(senses) == 1 else g)
    return tuple(out)


SENSES = tuple(PRINCIPAL)      # +x, -x, +y, -y, +z, -z


SIX_WRIST_HAND = "v2"          # the hand every issue-17 teacher trains on (v1's fingers are 16 mm short)


def six_wrist_cells(runs: list[Path], hand: str = SIX_WRIST_HAND) -> dict[tuple[str, str], tuple[str, float, float]]:
    """{(wrist, sense): (run name, RotR, TTF)} from the evaluated runs on normal cylinders under
    named wrists on hand ``hand``: a run under several wrists gives a cell per wrist for a sense
    it trains without its opposite (its per-wrist results, reported per axis group, are then that
    sense's), a run under one wrist a cell per sense it trains. Where several runs give a cell,
    the one with the higher RotR among those that hold the object long enough for the bar (TTF),
    else the one with the higher RotR: the cell a generalist's teacher would come from."""
    from dexndm_learning.rl.specialist import run_config, run_hand_version

    min_ttf = bar_for("normal_cylinders", list(NAMED_WRISTS)).ttf
    best: dict[tuple[str, str], tuple[str, float, float]] = {}
    for run in runs:
        env = run_config(run).env
        wrists = list(env.wrists)
        metrics_file = run / "eval" / "metrics.json"
        if (env.object_set != "normal_cylinders" or not set(wrists) <= set(NAMED_WRISTS)
                or not metrics_file.exists() or run_hand_version(run) != hand):
            continue
        metrics = json.loads(metrics_file.read_text())
        for group in trained_groups(env.axis_set, ("+-x", "+-y", "+-z")):
            one_sense = group in SENSES
            for sense in [group] if one_sense else [f"+{group[-1]}", f"-{group[-1]}"]:
                for wrist in wrists:
                    key = sense if len(wrists) == 1 else (f"{wrist} +-{group[-1]}" if one_sense else None)
                    if key not in metrics:
                        continue
                    cell = (run.name, metrics[key]["RotR"][0], metrics[key]["TTF"][0])
                    if (wrist, sense) not in best or _rank(cell, min_ttf) > _rank(best[(wrist, sense)], min_ttf):
                        best[(wrist, sense)] = cell
    return best


def _rank(cell: tuple[str, float, float], min_ttf: float) -> tuple[bool, float]:
    return cell[2] >= min_ttf, cell[1]


def _missing(cells: dict, senses: tuple[str, ...]) -> str:
    """What an axis group lacks: a sense no run trains, or the wrists a sense has no cell for."""
    parts = []
    for s in senses:
        wrists = [w for w in NAMED_WRISTS if (w, s) not in cells]
        if len(wrists) == len(NAMED_WRISTS):
            parts.append(f"no run for {s}")
        elif wrists:
            parts.append(f"no {s} run under {', '.join(wrists)}")
    return "; ".join(parts)


def six_wrist_table(runs: list[Path]) -> list[str]:
    """Markdown lines of the six-wrist table (none without a run that feeds it)."""
    cells = six_wrist_cells(runs)
    if not cells:
        return []
    sources = {s: sorted({cells[(w, s)][0] for w in NAMED_WRISTS if (w, s) in cells}) for s in SENSES}

    def text(wrist: str, sense: str) -> str:
        if (wrist, sense) not in cells:
            return "-"
        run, rotr, ttf = cells[(wrist, sense)]
        return f"{rotr:.1f} / {ttf:.2f}" + (f" (`{run}`)" if len(sources[sense]) > 1 else "")

    bar = bar_for("normal_cylinders", list(NAMED_WRISTS))
    lines = ["", f"Normal cylinders, six named wrists, hand {SIX_WRIST_HAND}: RotR / TTF per (wrist, sense), from the "
             "runs that train that sense under that wrist (where several do, the fastest that holds to the bar's TTF); the bar "
             f"(RotR >= {bar.rotr:g}, TTF >= {bar.ttf:g}) is on the mean over the six wrists and both senses.",
             "", "| wrist | " + " | ".join(SENSES) + " |", "|---|" + "---|" * len(SENSES),
             "| runs | " + " | ".join(", ".join(f"`{r}`" for r in sources[s]) or "none" for s in SENSES) + " |"]
    for wrist in NAMED_WRISTS:
        lines.append(f"| {wrist} | " + " | ".join(text(wrist, s) for s in SENSES) + " |")
    lines += ["", "| axis group | RotR (mean over wrists and senses) | TTF | bar met |", "|---|---|---|---|"]
    for group in ("+-x", "+-y", "+-z"):
        both = (f"+{group[-1]}", f"-{group[-1]}")
        keys = [(w, s) for s in both for w in NAMED_WRISTS]
        if any(k not in cells for k in keys):
            lines.append(f"| {group} | incomplete: {_missing(cells, both)} | | no |")
            continue
        rotr = sum(cells[k][1] for k in keys) / len(keys)
        ttf = sum(cells[k][2] for k in keys) / len(keys)
        lines.append(f"| {group} | {rotr:.1f} | {ttf:.2f} | {'yes' if rotr >= bar.rotr and ttf >= bar.ttf else 'no'} |")
    return lines


def cpu_hours(run: Path) -> tuple[float, float]:
    """(training hours, env steps) from the run's ``progress.csv`` (last row: cumulative over
    resumes); zeros without one."""
    rows = list(csv.DictReader((run / "progress.csv").open())) if (run / "progress.csv").exists() else []
    return (float(rows[-1]["wall_s"]) / 3600, float(rows[-1]["env_steps"])) if rows else (0.0, 0.0)


def warm_start_chain(run: Path) -> list[Path]:
    """The run folders ``run`` was warm-started from, nearest first (``init_checkpoint``'s folder,
    then its own), as far as they are specialist run folders."""
    from dexndm_learning.rl.specialist import run_config

    chain: list[Path] = []
    seen = {run.resolve()}
    while (init := run_config(chain[-1] if chain else run).init_checkpoint):
        parent = Path(init).parent
        if not (parent / "config.yaml").exists() or parent.resolve() in seen:
            break
        chain.append(parent)
        seen.add(parent.resolve())
    return chain


MAX_CORE_HOURS = 4.0        # issue 17: no single specialist over 4 CPU-hours


def busy_cores(run: Path) -> int:
    """The cores a run kept busy: its MuJoCo threads, or its torch threads where more."""
    from dexndm_learning.rl.specialist import run_config

    cfg = run_config(run)
    return max(cfg.env.nthread, cfg.torch_threads, cfg.update_threads)


def cpu_row(run: Path) -> tuple[str, float, float, float, float]:
    """(row, hours, env steps, core-hours, core-hours with its warm start): the run's own training
    time, and with the runs it was warm-started from (a specialist's whole cost)."""
    if not (run / "progress.csv").exists():
        return f"| `{run.name}` | no progress.csv | | | | |", 0.0, 0.0, 0.0, 0.0
    chain = warm_start_chain(run)
    usage = [(cpu_hours(p), busy_cores(p)) for p in [run, *chain]]      # ((hours, steps), cores) per run
    (hours, steps), _ = usage[0]
    spent = [(h, cores) for (h, _), cores in usage]
    whole = sum(h for h, _ in spent)
    core_hours = sum(h * c for h, c in spent)
    source = " <- ".join(f"`{p.name}`" for p in chain) or "-"
    return (f"| `{run.name}` | {hours:.2f} | {source} | {whole:.2f} | {core_hours:.1f} | {steps / 1e6:.1f} M |",
            hours, steps, hours * spent[0][1], core_hours)


def table(models: Path) -> str:
    runs = sorted(p for p in models.iterdir() if (p / "config.yaml").exists())
    if not runs:
        raise FileNotFoundError(f"{models}: no specialist run folders (none has a config.yaml)")
    lines = ["| specialist | objects, wrist, hand, start | sense | RotR | TTF | RotP | GO Succ | bar (issue 17) | met |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        lines += run_rows(run)
    lines += six_wrist_table(runs)
    lines += ["", "| run | hours (training wall time) | warm-started from | hours with its warm start "
                  "| core-hours with its warm start | env steps |",
              "|---|---|---|---|---|---|"]
    total_h = total_steps = total_core_h = 0.0
    whole = {}
    for run in runs:
        row, hours, steps, core_hours, whole[run.name] = cpu_row(run)
        lines.append(row)
        total_h, total_steps, total_core_h = total_h + hours, total_steps + steps, total_core_h + core_hours
    lines.append(f"| total | {total_h:.2f} | | | {total_core_h:.1f} | {total_steps / 1e6:.1f} M |")
    if any(whole.values()):
        largest = max(whole, key=whole.get)
        within = "within" if whole[largest] <= MAX_CORE_HOURS else "over"
        lines += ["", f"Largest specialist with its warm start: `{largest}`, {whole[largest]:.1f} core-hours, "
                      f"{within} issue 17's limit of {MAX_CORE_HOURS:g} CPU-hours per specialist."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="models/specialists", help="folder of specialist run folders")
    ap.add_argument("--out", default="docs/specialists", help="folder for table.md")
    args = ap.parse_args(argv)
    text = table(Path(args.models))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
