"""The generalist from a list of teachers, end to end: one command, one YAML.

    dexndm-learn build-generalist --config generalist_all [--data data/rollouts/all] [--runs runs/generalist_all]

Steps (``config/generalist_all.yaml`` is the committed ``models/generalist/base.pt``'s recipe, on
hand v2; ``config/generalist.yaml`` the first one's, on v1):
1. successful episodes of every teacher under its own conditions (``collect-rollouts``; an entry
   may override the axis set, e.g. a top-up of the sense a teacher rarely survives, or keep some
   of the teacher's wrists, where another teacher is better under the rest);
2. behaviour cloning on all of them, every (teacher, wrist, axis) group drawn equally often;
3. ``dagger.rounds`` rounds of DAgger: the previous policy acts under each teacher's conditions
   (entries with ``dagger: true``), the teacher labels, cloning continues on everything so far;
4. a last pass at a lower learning rate on all of it: ``<runs>/final/policy.pt``.
With ``init`` the cloning starts from that policy; with ``command_model`` (a UAN compensator or
ASAP delta-action model) every collection runs under the teachers' conditions (their training
randomization included: the fine-tuned policy should stay as robust as the base) with the model
correcting every command: the two baselines' policy fine-tuning (the procedure that made the
base, so their comparison with DexNDM is about the dynamics model, not the learner).
Each finished step records its command; it is skipped when the build runs again with the same
command and refused with another one (a changed recipe needs other --data / --runs folders), and a
killed collection or cloning run resumes from what it saved; ``--dry-run`` lists the steps.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from dexndm_learning.config import load_yaml, resolve_config


@dataclass
class TeacherEntry:
    name: str                       # dataset folder name under --data
    run: str                        # specialist run folder (config.yaml, checkpoint.pt)
    episodes: int = 1000            # successful episodes to keep
    seed: int = 10
    axis_set: str | None = None     # replaces the teacher's axis set (e.g. "+z" for a top-up)
    wrists: list[str] | None = None  # of the teacher's wrists, collect only under these (others have a better teacher)
    dagger: bool = True             # DAgger rounds collect under this entry's conditions


@dataclass
class CloneStage:
    epochs: int = 30
    lr: float = 3e-4


@dataclass
class DaggerConfig:
    rounds: int = 5
    episodes: int = 768
    seed: int = 20                  # round r collects with seed + r
    epochs: list[int] = field(default_factory=lambda: [12, 12, 12, 20, 20])   # per round


@dataclass
class GeneralistRecipe:
    teachers: list[TeacherEntry] = field(default_factory=list)
    num_envs: int = 256
    width: int = 512
    blocks: int = 5
    samples_per_epoch: int = 100_000
    bc: CloneStage = field(default_factory=CloneStage)
    dagger: DaggerConfig = field(default_factory=DaggerConfig)
    final: CloneStage = field(default_factory=lambda: CloneStage(epochs=30, lr=1e-4))
    init: str | None = None             # a policy to start cloning from (fine-tuning) instead of from scratch
    command_model: str | None = None    # UAN / ASAP model applied to every command while collecting

    def __post_init__(self):
        if not self.teachers:
            raise ValueError("teachers: the recipe needs at least one teacher")
        names = [t.name for t in self.teachers]
        if len(set(names)) != len(names):
            raise ValueError(f"teachers: names must be unique, got {names}")
        if len(self.dagger.epochs) < self.dagger.rounds:
            raise ValueError(f"dagger.epochs: {len(self.dagger.epochs)} values for {self.dagger.rounds} rounds")

    @classmethod
    def load(cls, name_or_path: str = "generalist_all", overrides: dict | None = None) -> "GeneralistRecipe":
        return load_yaml(cls, resolve_config(name_or_path), overrides)


@dataclass
class Step:
    kind: str                       # "collect" or "clone"
    name: str                       # dataset or run folder name
    argv: list[str]                 # the dexndm-learn command's arguments
    marker: Path                    # written when the step is finished: its argv (JSON)

    def finished(self) -> bool:
        """Whether the step ran to the end with this command; a finished step with another
        command is an error (its outputs would be reused for a different recipe)."""
        if not self.marker.exists():
            return False
        text = self.marker.read_text().strip()
        if text and json.loads(text) != self.argv:
            raise ValueError(f"{self.marker}: step '{self.name}' was made by another command "
                             f"({json.loads(text)}); use other --data / --runs folders for a changed recipe")
        return True


def plan(recipe: GeneralistRecipe, data: Path, runs: Path) -> list[Step]:
    """Every step of the build, in order, as ``collect-rollouts`` / ``train-generalist`` calls."""
    steps: list[Step] = []

    def collect(name: str, t: TeacherEntry, episodes: int, seed: int, student: Path | None = None):
        argv = ["--run", t.run, "--out", str(data / name), "--num-envs", str(recipe.num_envs), "--resume",
                "--episodes", str(episodes), "--seed", str(seed)]
        if t.axis_set:
            argv.append(f"--axis-set={t.axis_set}")          # "-z" would read as an option
        if t.wrists is not None:
            argv += ["--wrists", *t.wrists]
        if student:
            argv += ["--student", str(student)]
        if recipe.command_model:
            argv += ["--command-model", recipe.command_model]
        steps.append(Step("collect", name, argv, data / f"{name}.done"))

    def clone(name: str, sets: list[str], stage: CloneStage, init: Path | None = None):
        argv = ["--out", str(runs / name), "--resume", "--samples-per-epoch", str(recipe.samples_per_epoch),
                "--epochs", str(stage.epochs), "--lr", str(stage.lr), "--data", *[str(data / s) for s in sets]]
        argv += ["--init", str(init)] if init else ["--width", str(recipe.width), "--blocks", str(recipe.blocks)]
        steps.append(Step("clone", name, argv, runs / name / "step.json"))

    sets = []
    for t in recipe.teachers:
        collect(t.name, t, t.episodes, t.seed)
        sets.append(t.name)
    clone("bc", sets, recipe.bc, Path(recipe.init) if recipe.init else None)
    prev = "bc"
    for r in range(1, recipe.dagger.rounds + 1):
        student = runs / prev / "policy.pt"
        for t in recipe.teachers:
            if t.dagger:
                collect(f"dagger{r}_{t.name}", t, recipe.dagger.episodes, recipe.dagger.seed + r, student)
                sets.append(f"dagger{r}_{t.name}")
        clone(f"dagger{r}", list(sets), CloneStage(recipe.dagger.epochs[r - 1], recipe.bc.lr), runs / prev / "policy.pt")
        prev = f"dagger{r}"
    clone("final", list(sets), recipe.final, runs / prev / "policy.pt")
    return steps


def check_one_hand(recipe: GeneralistRecipe, what: str) -> str:
    """The one hand version every teacher trained on, which ``init`` and ``command_model`` must
    have been made on too. A recipe mixing versions is refused here, before any collection, rather
    than by the cloning step after hours of it."""
    from dexndm_learning.baselines.correction import load_correction
    from dexndm_learning.policy.artifact import load_policy
    from dexndm_learning.rl.specialist import run_hand_version
    from dexndm_learning.sim.hand_model import HandVersionError

    versions = {t.name: run_hand_version(Path(t.run)) for t in recipe.teachers}
    if len(set(versions.values())) > 1:
        listed = ", ".join(f"{t.name} ({t.run}) on {versions[t.name]}" for t in recipe.teachers)
        raise HandVersionError(f"{what}: the teachers trained on different hand versions ({listed}); "
                               "a generalist is cloned on one hand")
    hand = next(iter(versions.values()))
    if recipe.init and (made_on := load_policy(recipe.init).spec.hand_version) != hand:
        raise HandVersionError(f"{what}: init {recipe.init} was made on hand {made_on}, but the teachers "
                               f"trained on {hand}; init must be a {hand} policy")
    if recipe.command_model:
        load_correction(recipe.command_model, hand)
    return hand


def run_step(step: Step) -> None:
    from dexndm_learning.bc import collect, train

    (collect.main if step.kind == "collect" else train.main)(step.argv)
    step.marker.parent.mkdir(parents=True, exist_ok=True)
    step.marker.write_text(json.dumps(step.argv))


def main(argv=None) -> int:
    from dexndm_learning.bc.collect import check_wrists

    ap = argparse.ArgumentParser(description="Build the generalist from a list of teachers (BC + DAgger).")
    ap.add_argument("--config", default="generalist_all", help="name in config/ or a YAML path")
    ap.add_argument("--data", default="data/rollouts/all", help="rollout datasets go here")
    ap.add_argument("--runs", default="runs/generalist_all", help="behaviour-cloning runs go here")
    ap.add_argument("--dry-run", action="store_true", help="print the steps and which are done, run nothing")
    args = ap.parse_args(argv)
    recipe = GeneralistRecipe.load(args.config)
    for t in recipe.teachers:
        if not (Path(t.run) / "checkpoint.pt").exists():
            raise FileNotFoundError(f"{args.config}: teacher '{t.name}': {Path(t.run) / 'checkpoint.pt'} does not exist")
        if t.wrists is not None:
            check_wrists(Path(t.run), t.wrists, f"{args.config}: teacher '{t.name}': wrists")
    for what, path in (("init", recipe.init), ("command_model", recipe.command_model)):
        if path and not Path(path).exists():
            raise FileNotFoundError(f"{args.config}: {what}: {path} does not exist")
    check_one_hand(recipe, args.config)
    steps = plan(recipe, Path(args.data), Path(args.runs))
    for i, step in enumerate(steps, 1):
        done = step.finished()
        print(f"[{i}/{len(steps)}] {step.kind} {step.name} ({'done' if done else 'to do'})", flush=True)
        if not args.dry_run and not done:
            run_step(step)
    if not args.dry_run:
        print(f"generalist: {Path(args.runs) / 'final' / 'policy.pt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
