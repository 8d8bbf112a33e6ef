"""A generalist against each of its teachers, on the teacher's own conditions (issue 18's first bar).

    dexndm-learn versus-teachers --config generalist_all --policy runs/generalist_all/final/policy.pt \\
        --out docs/generalist_vs_teachers

For every teacher run of the recipe, ``eval-specialist --run <teacher> --policy <policy>``: the
teacher's own conditions, wrists included, with the seeds and envs of its committed evaluation
(``<teacher>/eval/metrics.json``, made by ``scripts/train_specialists.sh`` with 3 seeds x 128 envs),
so both see the same starts. Then each cell both have is compared: the teacher's senses for a
one-wrist teacher (``+z``), its (wrist, axis group) cells for a several-wrist one (``thumb_up +-x``),
only those of the entry's ``wrists`` where it keeps some. A teacher run listed twice (a top-up of one
sense) is compared once. A cell is met when the generalist reaches ``--keep`` (0.8) of the teacher's
RotR with TTF at most ``--max-ttf-drop`` (0.1) below. Writes ``<out>/<teacher>/`` (the generalist's
evaluation), ``versus.json`` and ``versus.md``. An evaluation already in ``<out>`` is reused when it
was made by the same command on the same policy file and teacher config (their SHA-256), refused
otherwise.
"""
from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from dexndm_learning.bc.pipeline import GeneralistRecipe, TeacherEntry, check_one_hand
from dexndm_learning.policy.artifact import load_policy
from dexndm_learning.rl.cell_cache import file_sha256

SENSE = re.compile(r"^[+-][xyz]$")


@dataclass
class Cell:
    teacher: str
    cell: str                  # "+z" or "thumb_up +-x"
    teacher_rotr: float
    teacher_ttf: float
    rotr: float
    ttf: float
    rotr_kept: float | None    # generalist RotR / teacher RotR (None where the teacher does not turn)
    ttf_drop: float            # teacher TTF - generalist TTF
    met: bool


def teacher_cells(teacher: dict, wrists: list[str] | None) -> list[str]:
    """The cells a teacher's evaluation is compared on: (wrist, axis group) cells when it ran under
    several wrists (those in ``wrists`` when given), else its senses."""
    per_wrist = [k for k in teacher if " " in k]
    if per_wrist:
        return [k for k in per_wrist if wrists is None or k.split(" ")[0] in wrists]
    return [k for k in teacher if SENSE.match(k)]


def compare(name: str, teacher: dict, student: dict, cells: list[str], keep: float, max_ttf_drop: float) -> list[Cell]:
    rows = []
    for c in cells:
        if c not in student:
            raise ValueError(f"{name}: the generalist's evaluation has no cell '{c}' (has {sorted(student)}); "
                             "was the teacher's own evaluation made under other wrists than its run's?")
        t_rotr, t_ttf = teacher[c]["RotR"][0], teacher[c]["TTF"][0]
        rotr, ttf = student[c]["RotR"][0], student[c]["TTF"][0]
        kept = rotr / t_rotr if t_rotr > 0 else None
        ok_rotr = kept >= keep - 1e-9 if kept is not None else rotr >= t_rotr
        met = bool(ok_rotr and t_ttf - ttf <= max_ttf_drop + 1e-9)
        rows.append(Cell(name, c, t_rotr, t_ttf, rotr, ttf, kept, t_ttf - ttf, met))
    return rows


def markdown(rows: list[Cell], policy: str, keep: float, max_ttf_drop: float) -> str:
    lines = [f"**{policy} against each teacher on the teacher's conditions** (kept: RotR / teacher's; "
             f"met: kept >= {keep:g} and TTF at most {max_ttf_drop:g} below)", "",
             "| teacher | cell | teacher RotR | teacher TTF | RotR | TTF | kept | TTF drop | met |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        kept = "-" if r.rotr_kept is None else f"{100 * r.rotr_kept:.0f} %"
        lines.append(f"| `{r.teacher}` | {r.cell} | {r.teacher_rotr:.1f} | {r.teacher_ttf:.2f} | {r.rotr:.1f} | "
                     f"{r.ttf:.2f} | {kept} | {r.ttf_drop:+.2f} | {'yes' if r.met else 'no'} |")
    lines.append(f"\n{sum(r.met for r in rows)} of {len(rows)} cells met.")
    return "\n".join(lines) + "\n"


def eval_argv(t: TeacherEntry, policy: Path, out: Path, seeds: list[int], num_envs: int) -> list[str]:
    return ["--run", t.run, "--policy", str(policy), "--out", str(out / t.name), "--num-envs", str(num_envs),
            "--seeds", *map(str, seeds)]


def evaluate_once(argv: list[str], source: dict, folder: Path) -> dict:
    """The generalist's metrics under one teacher's conditions: evaluated, or reused from ``folder``
    when ``source.json`` there records the same ``source`` (command, policy and teacher config)."""
    from dexndm_learning.rl import evaluate

    marker = folder / "source.json"
    if marker.exists():
        if json.loads(marker.read_text()) != source:
            raise ValueError(f"{marker}: made by another command or policy file; give another --out")
        return json.loads((folder / "metrics.json").read_text())
    evaluate.main(argv)
    marker.write_text(json.dumps(source, indent=2))
    return json.loads((folder / "metrics.json").read_text())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="A generalist against each teacher of its recipe, on the teacher's "
                                             "conditions: RotR kept and TTF drop per cell.")
    ap.add_argument("--config", default="generalist_all", help="the generalist's recipe: name in config/ or a YAML path")
    ap.add_argument("--policy", required=True, help="the generalist's deployable policy file")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the teachers' evaluations' seeds")
    ap.add_argument("--num-envs", type=int, default=128, help="the teachers' evaluations' envs")
    ap.add_argument("--keep", type=float, default=0.8, help="share of the teacher's RotR to keep")
    ap.add_argument("--max-ttf-drop", type=float, default=0.1, help="largest TTF drop below the teacher's")
    args = ap.parse_args(argv)
    recipe, policy, out = GeneralistRecipe.load(args.config), Path(args.policy), Path(args.out)
    if not policy.is_file():
        raise FileNotFoundError(f"--policy: {policy} does not exist")
    hand = check_one_hand(recipe, args.config)
    load_policy(policy).check_hand(hand, f"--policy {policy}")
    entries = {}                                   # teacher run -> its first entry (a top-up adds no cells)
    for t in recipe.teachers:
        entries.setdefault(Path(t.run).resolve(), t)
    teachers = {}
    for t in entries.values():
        path = Path(t.run) / "eval" / "metrics.json"
        if not path.exists():
            raise FileNotFoundError(f"{args.config}: teacher '{t.name}': {path} does not exist (run eval-specialist)")
        teachers[t.name] = json.loads(path.read_text())
    sha = file_sha256(policy)
    rows: list[Cell] = []
    for t in entries.values():
        cmd = eval_argv(t, policy, out, args.seeds, args.num_envs)
        source = {"argv": cmd, "policy_sha256": sha, "teacher_config_sha256": file_sha256(Path(t.run) / "config.yaml")}
        student = evaluate_once(cmd, source, out / t.name)
        cells = teacher_cells(teachers[t.name], t.wrists)
        rows += compare(t.name, teachers[t.name], student, cells, args.keep, args.max_ttf_drop)
    table = markdown(rows, policy.name, args.keep, args.max_ttf_drop)
    (out / "versus.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    (out / "versus.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
