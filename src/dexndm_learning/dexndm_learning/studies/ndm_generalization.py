"""Sim-to-sim reproduction of the paper's NDM generalization study (Fig. 6, Sec. 4.2).

Question: trained on Chaos Box data of a "real" hand (a reality profile with a gap), do the
joint-wise, finger-wise and whole-hand models (same width, depth, window and epochs) predict
task-relevant transitions (a policy rotating an object) equally well? The paper: the joint-wise
model generalizes much better out of distribution in both data regimes and is more
sample-efficient in-domain; with ample data the whole-hand model is as good in-domain.

Steps, all in the same reality profile:

1. Action trajectories: base-policy rollouts in nominal sim, from ``--rollouts`` (a rollout
   dataset) or collected here with ``--policy-run``: a specialist run under its training
   conditions, or a deployable policy file (the generalist) at the rotation wrists on
   ``object_set`` about ``axis_set`` from the start ``start_orientation`` / ``start_offset``
   (``grasps.start_grasp``).
2. Test sets: held-out Chaos Box trajectories at the Chaos Box wrists (in-domain), and the
   policy's closed-loop rotation episodes in ``RotationEnv`` at each rotation wrist (OOD: object
   load and task motion; a wrist absent from the Chaos Box wrists is also OOD in the load
   direction). Without a policy, the rollout dataset's actions are replayed open-loop in the
   env instead: the object is not controlled by feedback and often drops, a weaker stand-in.
3. For each data size (Chaos Box trajectories over all its wrists; each size's data contains
   the smaller sizes' data): collect, train the three models, evaluate one-step and open-loop
   errors on every test set.

``--out`` gets ``results.json``, ``results.md`` (tables) and plots, rewritten after every model;
``--work`` holds the data (``.npz`` per collection job), the rollouts and the model runs. A
rerun with the same ``--work`` skips everything already done and resumes a killed training, so
a killed run keeps its finished parts.

::

    python -m dexndm_learning.studies.ndm_generalization --profile worn_hand --out docs/ndm_generalization \\
        --preset small --policy-run models/generalist/base.pt --start-orientation upright
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from dexndm_learning.config import add_field_options, given_options, to_dict
from dexndm_learning.data.rollout_dataset import MANIFEST, RolloutDataset
from dexndm_learning.ndm.config import NdmConfig, TrainConfig
from dexndm_learning.ndm.dataset import TransitionDataset
from dexndm_learning.ndm.evaluate import one_step_errors, rollout_errors
from dexndm_learning.studies.ndm_generalization_report import IN_DOMAIN, write_report
from dexndm_learning.ndm.models import ModelConfig, load_model
from dexndm_learning.ndm.sim_data import (ActionTrajectories, chaos_box_steps, open_loop_actor, rollout_actions,
                                          rollout_steps, task_env_overrides)
from dexndm_learning.ndm.steps import Steps, make_windows
from dexndm_learning.ndm.train import train
from dexndm_learning.sim.reality import load_profile
from dexndm_learning.rl.cell_cache import policy_sha256
from dexndm_learning.sim.grasps import start_grasp
from dexndm_learning.rl.evaluate import artifact_actor, specialist_actor
from dexndm_learning.studies.resumable import PhaseTimer, from_preset, lock_settings, write_json
from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv


@dataclass
class StudyConfig:
    profile: str = "worn_hand"               # the "real" hand: config/reality/<name>.yaml or a path
    box_wrists: list[str] = field(default_factory=lambda: ["palm_down", "thumb_up"])
    rotation_wrists: list[str] = field(default_factory=list)   # empty: the policy's wrists (palm_up without one)
    traj_steps: int = 100                    # Chaos Box trajectory length (paper: 400)
    train_sizes: dict[str, int] = field(default_factory=lambda: {"low": 200, "high": 800})
    test_trajectories: int = 40              # held-out Chaos Box trajectories (in-domain test)
    chunk: int = 20                          # trajectories per collection job (one ball scene each)
    n_balls: int | None = None               # None: enough to bury the hand (~130)
    noise_sigma: float = 0.01
    noise_prob: float = 0.5
    rotation_episodes: int = 64              # per rotation wrist
    rotation_steps: int = 200
    num_envs: int = 64
    object_set: str = "normal_cylinders"     # rotation env of a policy file or of no policy (a run: its own)
    axis_set: str = "z"                      # a policy file's axes (a run: its own)
    start_orientation: str = "random"        # a policy file's start: random | upright | rotation-axis
    start_offset: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])   # m, hand frame
    grasp_candidates: int = 64               # a policy file's start grasps per object
    kinds: list[str] = field(default_factory=lambda: ["joint", "finger", "whole"])
    window: int = 10
    width: int = 256
    depth: int = 2
    epochs: int = 30
    batch_size: int = 1024
    workers: int = 2                         # parallel Chaos Box jobs (threads; MuJoCo releases the GIL)
    threads: int = 2                         # torch threads for training
    seed: int = 0


PRESETS = {
    "small": StudyConfig(),
    "full": StudyConfig(traj_steps=400, train_sizes={"low": 300, "high": 2000}, test_trajectories=100,
                        chunk=50, rotation_episodes=128, rotation_steps=400, epochs=50),
}
RUNTIME_FIELDS = ("workers", "threads")
"""Fields that do not change the results; a resumed study may use other values."""


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _save_steps(steps: Steps, path: Path) -> None:
    tmp = path.with_name(path.stem + ".partial.npz")
    steps.save(tmp)
    os.replace(tmp, path)


def first_segments(steps: Steps, n: int) -> Steps:
    """The rows of the first ``n`` segments (segment ids in order of appearance)."""
    _, first_row = np.unique(steps.segment, return_index=True)
    keep = np.isin(steps.segment, steps.segment[np.sort(first_row)[:n]])
    return Steps(steps.q[keep], steps.a[keep], steps.segment[keep])


def evaluate_model(model, steps: Steps) -> dict:
    """Joint-mean one-step MSE and open-loop MSE per horizon (rad^2)."""
    w = make_windows(steps, model.config.window)
    one = one_step_errors(model, TransitionDataset(w.windows, w.next_q))["mse"]
    roll = rollout_errors(model, steps)
    return {"one_step": float(one.mean()), "rollout": {str(h): float(v.mean()) for h, v in roll.items()}}


def segment_lengths(steps: Steps) -> np.ndarray:
    return np.bincount(np.unique(steps.segment, return_inverse=True)[1])


def set_info(steps: Steps, window: int) -> dict:
    lengths = segment_lengths(steps)
    return {"segments": int(len(lengths)), "rows": int(len(steps)),
            "transitions": int(np.maximum(lengths - window, 0).sum()), "mean_segment_steps": float(lengths.mean())}


class Study:
    def __init__(self, cfg: StudyConfig, out: Path, work: Path, policy_run: Path | None = None,
                 rollouts: Path | None = None, command: str = ""):
        if policy_run is None and rollouts is None:
            raise ValueError("give a policy run (--policy-run) or a rollout dataset (--rollouts)")
        if min(cfg.train_sizes.values()) < len(cfg.box_wrists) or cfg.test_trajectories < len(cfg.box_wrists):
            raise ValueError("every data size needs at least one trajectory per Chaos Box wrist")
        self.cfg, self.out, self.work = cfg, Path(out), Path(work)
        self.policy_run, self.rollouts = policy_run, rollouts
        policy_wrists = None
        if policy_run is not None and not Path(policy_run).exists():
            raise FileNotFoundError(f"--policy-run: {policy_run} does not exist")
        if policy_run is not None and Path(policy_run).is_file():
            start_grasp(cfg.grasp_candidates, cfg.start_orientation, cfg.start_offset, cfg.axis_set)   # refuse early
        elif policy_run is not None:
            policy_wrists = list(yaml.safe_load((Path(policy_run) / "config.yaml").read_text())["env"]["wrists"])
        self.rotation_wrists = cfg.rotation_wrists or policy_wrists or ["palm_up"]
        self.results = {"command": command, "study": to_dict(cfg),
                        "profile_description": load_profile(cfg.profile).description,
                        "policy_run": str(policy_run or ""),
                        "policy_is_file": policy_run is not None and Path(policy_run).is_file(),
                        "rollouts": str(rollouts or ""), "sets": {}, "train_sets": {}, "models": {},
                        "timings_s": {}, "notes": []}
        self.timer = PhaseTimer(self.work / "timings.json")      # phase times summed over resumed runs
        self._timed = self.timer.phase

    # ------------------------------------------------------------------ bookkeeping
    def _check_work_dir(self) -> None:
        """A work dir belongs to one study: reusing it with other settings would mix data."""
        key = {k: v for k, v in to_dict(self.cfg).items() if k not in RUNTIME_FIELDS}
        key |= {"policy_run": self.results["policy_run"], "rollouts": self.results["rollouts"],
                "policy_sha256": policy_sha256(self.policy_run) if self.policy_run else ""}
        lock_settings(self.work / "study.yaml", key, "study", "--work")

    def _publish(self) -> None:
        self.results["timings_s"] = self.timer.read()
        write_json(self.out / "results.json", self.results)
        write_report(self.results, self.out)

    def _note(self, text: str) -> None:
        print(f"note: {text}", flush=True)
        self.results["notes"].append(text)

    # ------------------------------------------------------------------ data
    def _trajectories_needed(self) -> int:
        return max(self.cfg.train_sizes.values()) + self.cfg.test_trajectories

    def action_pool(self) -> ActionTrajectories:
        cfg = self.cfg
        root = self.rollouts
        if root is None:
            root = self.work / "rollouts"
            from dexndm_learning.bc.collect import collect

            n = self._trajectories_needed()
            if (root / MANIFEST).exists() and RolloutDataset.open(root).episodes >= n:
                return self._load_pool(root)
            env, act = self.policy_actor(min(256, n), {"episode_steps": cfg.traj_steps})
            collect(env, act, root, n, resume=True, meta={"specialist": str(self.policy_run)})
        return self._load_pool(root)

    def _load_pool(self, root: Path) -> ActionTrajectories:
        cfg = self.cfg
        pool = rollout_actions(root, steps=cfg.traj_steps)
        if pool.actions.shape[1] < cfg.traj_steps:
            raise ValueError(f"{root}: episodes have {pool.actions.shape[1]} steps, the study needs {cfg.traj_steps}")
        if len(pool.actions) <= cfg.test_trajectories:
            raise ValueError(f"{root}: {len(pool.actions)} episodes, need more than {cfg.test_trajectories}")
        return pool

    def _split_pool(self, pool: ActionTrajectories) -> dict[str, np.ndarray]:
        """Disjoint action trajectories for the in-domain test and for training."""
        order = np.random.default_rng(self.cfg.seed).permutation(len(pool.actions))
        test, train_ = order[:self.cfg.test_trajectories], order[self.cfg.test_trajectories:]
        if len(train_) < max(self.cfg.train_sizes.values()):
            self._note(f"{len(train_)} distinct action trajectories for up to {max(self.cfg.train_sizes.values())} "
                       "Chaos Box training trajectories: they are reused (with fresh noise and ball states)")
        return {"test": test, "train": train_}

    def _box_jobs(self, split: str, total: int, pool_idx: np.ndarray) -> list[tuple[Path, str, np.ndarray, int]]:
        """(file, wrist, action indices, seed) of the jobs that make ``total`` trajectories of
        ``split``; job c of a wrist always holds its trajectories c*chunk .. (c+1)*chunk - 1."""
        cfg, wrists = self.cfg, self.cfg.box_wrists
        per_wrist = math.ceil(total / len(wrists))
        jobs = []
        for wi, wrist in enumerate(wrists):
            for c in range(math.ceil(per_wrist / cfg.chunk)):
                j = np.arange(c * cfg.chunk, (c + 1) * cfg.chunk)
                idx = pool_idx[(j * len(wrists) + wi) % len(pool_idx)]
                path = self.work / "data" / f"box_{split}_{wrist}_{c:03d}.npz"
                jobs.append((path, wrist, idx, _seed(cfg.seed, int(split == "test"), wi, c)))
        return jobs

    def box_steps(self, split: str, total: int, pool: ActionTrajectories, pool_idx: np.ndarray) -> Steps:
        """Chaos Box data of ``split``: ``total`` trajectories spread over the wrists (collected
        as needed, in parallel jobs)."""
        cfg = self.cfg
        jobs = self._box_jobs(split, total, pool_idx)
        todo = [job for job in jobs if not job[0].exists()]
        if todo:
            (self.work / "data").mkdir(parents=True, exist_ok=True)
            bar = tqdm(total=sum(len(j[2]) for j in todo), desc=f"chaos box {split}", unit="traj")
            lock = threading.Lock()

            def tick(n):
                with lock:
                    bar.update(n)

            def run(job):
                path, wrist, idx, seed = job
                steps = chaos_box_steps(cfg.profile, wrist, ActionTrajectories(pool.actions[idx], pool.start[idx]),
                                        cfg.noise_sigma, cfg.noise_prob, seed, n_balls=cfg.n_balls, progress=tick)
                _save_steps(steps, path)

            with ThreadPoolExecutor(max(1, cfg.workers)) as ex:
                for future in [ex.submit(run, job) for job in todo]:
                    future.result()
            bar.close()
        per_wrist = math.ceil(total / len(cfg.box_wrists))
        parts = []
        for wrist in cfg.box_wrists:
            wrist_steps = Steps.concat([Steps.load(p) for p, w, _, _ in jobs if w == wrist])
            parts.append(first_segments(wrist_steps, per_wrist))
        return Steps.concat(parts)

    def policy_actor(self, num_envs: int, overrides: dict):
        """(env, act) of ``--policy-run``: a specialist run under its training conditions, or a
        policy file on the study's objects, axes and start at the rotation wrists; ``overrides`` win."""
        cfg = self.cfg
        if Path(self.policy_run).is_dir():
            return specialist_actor(self.policy_run, num_envs, cfg.seed, overrides)
        grasp = start_grasp(cfg.grasp_candidates, cfg.start_orientation, cfg.start_offset, cfg.axis_set)
        env_cfg = EnvConfig(**{"num_envs": num_envs, "object_set": cfg.object_set, "axis_set": cfg.axis_set,
                               "grasp": grasp, "wrists": list(self.rotation_wrists), **overrides})
        return artifact_actor(self.policy_run, env_cfg, cfg.seed)

    def rotation_episode_steps(self) -> int:
        if self.policy_run is not None:
            return self.cfg.rotation_steps
        return min(self.cfg.rotation_steps, RolloutDataset.open(self.rollouts).steps)

    def rotation_steps_for(self, wrist: str) -> Steps:
        """The OOD test set at ``wrist``: closed-loop policy episodes (or the open-loop fallback)."""
        cfg = self.cfg
        path = self.work / "data" / f"rotation_{wrist}.npz"
        if path.exists():
            return Steps.load(path)
        n_envs = min(cfg.num_envs, cfg.rotation_episodes)
        overrides = task_env_overrides(cfg.profile, wrist, self.rotation_episode_steps(), n_envs, cfg.seed)
        if self.policy_run is not None:
            env, act = self.policy_actor(n_envs, overrides)
        else:
            env = RotationEnv(EnvConfig(object_set=cfg.object_set, **overrides))
            act = open_loop_actor(rollout_actions(self.rollouts, steps=env.cfg.episode_steps).actions, n_envs)
        with tqdm(total=cfg.rotation_episodes, desc=f"rotation {wrist}", unit="ep") as bar:
            steps = rollout_steps(env, act, cfg.rotation_episodes, progress=bar.update)
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_steps(steps, path)
        return steps

    # ------------------------------------------------------------------ models
    def train_model(self, size: str, kind: str, steps: Steps) -> Path:
        cfg = self.cfg
        run = self.work / "models" / f"{size}_{kind}"
        if not (run / "summary.json").exists():
            ndm_cfg = NdmConfig(model=ModelConfig(kind, cfg.window, cfg.width, cfg.depth),
                                train=TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed,
                                                  threads=cfg.threads))
            summary = train(ndm_cfg, steps, run, resume=(run / "last.pt").exists())
            (run / "summary.json").write_text(json.dumps(summary, indent=1))
        return run

    def evaluate(self, run: Path, test_sets: dict[str, Steps]) -> dict:
        path = run / "metrics.json"
        if path.exists():
            return json.loads(path.read_text())
        model = load_model(run / "best.pt")
        metrics = {name: evaluate_model(model, steps) for name, steps in test_sets.items()}
        path.write_text(json.dumps(metrics, indent=1))
        return metrics

    # ------------------------------------------------------------------ all
    def run(self) -> dict:
        cfg = self.cfg
        self._check_work_dir()
        with self._timed("action trajectories"):
            pool = self.action_pool()
        self.results["actions"] = {"trajectories": int(len(pool.actions)), "steps": int(pool.actions.shape[1])}
        split = self._split_pool(pool)

        test_sets: dict[str, Steps] = {}
        with self._timed("chaos box test data"):
            test_sets[IN_DOMAIN] = self.box_steps("test", cfg.test_trajectories, pool, split["test"])
        self.results["sets"][IN_DOMAIN] = {"kind": "in-domain", "wrists": cfg.box_wrists,
                                           **set_info(test_sets[IN_DOMAIN], cfg.window)}
        for wrist in self.rotation_wrists:
            with self._timed(f"rotation data {wrist}"):
                steps = self.rotation_steps_for(wrist)
            name = f"rotation_{wrist}"
            test_sets[name] = steps
            episode_steps = self.rotation_episode_steps()
            self.results["sets"][name] = {
                "kind": "OOD", "wrist": wrist, "wrist_in_chaos_box": wrist in cfg.box_wrists,
                "source": (f"the policy `{self.policy_run}` (closed loop)" if self.policy_run
                           else "the rollout dataset's actions, replayed open loop,"),
                "episode_steps": episode_steps,
                "full_length_episodes": int(np.sum(segment_lengths(steps) >= episode_steps)),
                **set_info(steps, cfg.window)}
        self._publish()

        for size, n in sorted(cfg.train_sizes.items(), key=lambda item: item[1]):
            with self._timed(f"chaos box train data {size}"):
                steps = self.box_steps("train", n, pool, split["train"])
            self.results["train_sets"][size] = set_info(steps, cfg.window)
            for kind in cfg.kinds:
                with self._timed(f"train {size} {kind}"):
                    run = self.train_model(size, kind, steps)
                with self._timed(f"evaluate {size} {kind}"):
                    metrics = self.evaluate(run, test_sets)
                summary = json.loads((run / "summary.json").read_text())
                self.results["models"].setdefault(size, {})[kind] = {"train": summary, "eval": metrics}
                self._publish()
        return self.results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Joint-wise vs finger-wise vs whole-hand NDM generalization, sim-to-sim.")
    p.add_argument("--out", required=True, type=Path,
                   help="results folder (tables, plots), e.g. docs/ndm_generalization")
    p.add_argument("--work", type=Path, help="data and model runs (default runs/ndm_generalization/<profile>_<preset>)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="small")
    p.add_argument("--policy-run", type=Path, help="specialist run folder (config.yaml, checkpoint.pt) or a policy file")
    p.add_argument("--start-offset", nargs=3, type=float, metavar=("X", "Y", "Z"),
                   help="a policy file's start grasp centre from the canonical one, hand frame, m (default 0 0 0)")
    p.add_argument("--rollouts", type=Path, help="rollout dataset whose actions the Chaos Box replays")
    p.add_argument("--box-wrists", nargs="+", help="Chaos Box wrists (default palm_down thumb_up)")
    p.add_argument("--rotation-wrists", nargs="+", help="rotation test wrists (default the policy's)")
    fields = add_field_options(p, StudyConfig)     # --profile, --epochs, --workers, ... (a given one replaces the preset's)
    args = p.parse_args(argv)
    if args.policy_run is None and args.rollouts is None:
        p.error("give --policy-run or --rollouts (or both)")
    cfg = from_preset(PRESETS, args.preset, box_wrists=args.box_wrists, rotation_wrists=args.rotation_wrists,
                      start_offset=args.start_offset, **given_options(args, fields))
    work = args.work or Path("runs/ndm_generalization") / f"{Path(cfg.profile).stem}_{args.preset}"
    command = "python -m dexndm_learning.studies.ndm_generalization " + shlex.join(sys.argv[1:] if argv is None else argv)
    Study(cfg, args.out, work, args.policy_run, args.rollouts, command).run()
    print(f"wrote {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
