"""``dexndm sim2sim``: one reality profile's sim-to-sim table end to end, with the Chaos Box data
collected through the ROS 2 path (method.md sections 8, 9 and 11; the paper's Table 6).

    dexndm sim2sim --profile worn_hand --out runs/sim2sim/worn_hand --preset small
    dexndm sim2sim --profile my_hand.yaml --out runs/sim2sim/my_hand              # any profile file
    dexndm sim2sim --profile worn_hand --out runs/sim2sim/worn_sigma0 --noise-sigma 0     # ablations:
    dexndm sim2sim --profile worn_hand --out runs/sim2sim/worn_free_hand --scene hand     # other data

Phases, in ``--out``; a rerun with the same settings skips the finished ones and continues the
interrupted one (Chaos Box collection, NDM and residual training from their last checkpoint, the
rollouts from their last complete shard, the evaluation from its last finished variant):

1. ``rollouts/``: the base policy in nominal sim (``sim_world``: another simulator, e.g. the
   identified one of ``dexndm sysid``; training randomization off, disturbances and observation
   noise on) at its wrists and axes on its training objects, from its start grasps
   (``start_orientation``, ``start_offset``; every phase in the target starts the same); the
   episodes that keep the object become a rollout dataset.
2. ``bags/<wrist>/``: Chaos Box collection in the target profile through the "chaos_box" graph
   (the simulated hand in the scene under the profile, the replay of those episodes' actions,
   the bag recorder; ``chaos_collect``, private to the process: other ROS 2 processes on the
   machine neither see nor disturb it). ``--noise-sigma`` and ``--scene`` change only this phase.
3. ``pretrain/`` (if ``pretrain_trajectories``): the same replay in ``sim_world`` without ROS
   (``ndm.sim_data``) and an NDM of each kind trained on it, to be fine-tuned in 4.
4. ``ndm_joint/``, ``ndm_whole/``: a joint-wise and a whole-hand NDM (same width, depth, window
   and epochs) fit on the bags.
5. ``residual_joint/``, ``residual_whole/``: a residual trained through each frozen NDM on the
   rollouts (``residual.train``).
5b. with ``ndm_ensemble`` > 1, ``gate_quantile`` or ``disagreement_weight`` set, the robust
   variant (issue 19): joint-wise NDMs from seeds 1..K-1 (``ndm_joint_seed<i>/``; member 0 is
   ``ndm_joint``), with ``ensemble_whole`` also ``ndm_whole`` (its spread only), a gate calibrated
   on the bags (``residual.gate``) and ``residual_robust/`` trained through the joint-wise mean
   with the disagreement penalty. Its settings are locked in
   ``robust.yaml``, apart from ``pipeline.yaml``: a finished run gains the variant by the same
   command with these options, and nothing else is redone.
5c. with ``refine_rounds`` set, the refined variant (issue 19, ``residual.refine``): per round r,
   ``refine_<r>/deployment_*.npz`` (the base alone in round 1, and base + the previous residual
   run in the target on the training objects), ``refine_<r>/ndm_joint/`` (the joint-wise NDM
   fine-tuned on the bags plus every deployment so far) and ``refine_<r>/residual/``. Locked in
   ``refine.yaml`` (apart from the number of rounds: more rounds continue a finished run, and the
   report shows the last); a finished run gains it the same way as the robust variant.
5d. with ``select_strengths`` set, the selected variant (issue 19, ``residual.select``): trial runs
   in the target (training objects, ``select_seeds``) of the base alone and of each joint-wise
   residual above (today's, robust, refined) at each strength, in ``select/<candidates>/``; the
   best by RotR whose TTF is at most ``select_ttf_margin`` below the base's (and, with
   ``select_min_gain_se``, whose gain over the base clears that many standard errors) becomes
   ``select/<candidates>/residual.pt`` (absent if the base alone won). Locked in ``select.yaml``.
5e. with ``baselines`` (``uan``, ``asap``; issue 21), each baseline's rows: ``uan/`` (wave
   trajectories on the free hand in the target through ROS 2, as ``dexndm sysid`` probes, and
   UAN's compensator fitted to them, ``baselines.uan``) or ``asap/`` (the base policy's steps in
   the target and ASAP's delta-action model, ``baselines.asap``); then ``finetune_<kind>/``: the
   base distilled again from the teachers of ``teachers`` (a generalist recipe) under their
   training conditions with that model correcting every command, from the base's weights
   (``bc.pipeline``); evaluated without the model. Locked in ``baselines.yaml``; a finished run gains the rows the same way.
   Where a teacher keeps no object in the corrected sim (``bc.collect.NoSuccessfulEpisodes``) the
   row is not made: ``finetune_<kind>/failed.json`` holds why, and the report says so.
6. ``eval/``: direct transfer (base only) and base + each residual in the target profile on the
   training and the test objects, ``seeds`` evaluations each (``residual.sim2sim``): RotR, TTF,
   RotP per axis group, mean +- std over seeds. Report: ``sim2sim.md`` (tables, objects left out,
   residual losses, settings, phase times), ``sim2sim.json``, ``sim2sim.png`` (bars).

``pipeline.yaml`` holds the settings that shape the results, including the profile's contents
and the base policy's hash; another run into the same folder with other settings is refused.
``timings.json``: wall seconds per phase, summed over resumed runs.

Torch runs with one thread in the simulation phases: with two, its OpenMP workers spin between
calls and starve MuJoCo's stepping threads (measured while a training job shared the 2 cores:
a base-policy call on 64 observations took 130 ms instead of 4 ms).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml

from dexndm_control.chaos_box import chaos_collect
from dexndm_control import graphs
from dexndm_control.chaos_box.chaos_progress import CollectionProgress
from dexndm_control.commands import sysid as sysid_command
from dexndm_control.commands.sim2sim_config import (BASELINE_FIELDS, BASELINES, CONTROL, PRESETS, REFINE_FIELDS, ROBUST_FIELDS,
                                                    RUNTIME_FIELDS, SELECT_FIELDS, VARIANT_FIELDS, PipelineConfig,
                                                    refine_enabled, robust_enabled, select_enabled)
from dexndm_control.sim.sim_scene import SCENES
from dexndm_learning.baselines import asap, uan
from dexndm_learning.bc import pipeline as generalist
from dexndm_learning.bc.collect import NoSuccessfulEpisodes, collect
from dexndm_learning.data.wave_targets import WaveConfig
from dexndm_learning.config import resolve_config, to_dict
from dexndm_learning.ndm.bag_ingest import load_bags
from dexndm_learning.ndm.models import load_model
from dexndm_learning.ndm.config import NdmConfig
from dexndm_learning.ndm.sim_data import ActionTrajectories, chaos_box_steps, free_hand_steps, rollout_actions
from dexndm_learning.ndm.steps import Steps, make_windows
from dexndm_learning.policy.artifact import load_policy
from dexndm_learning.residual import sim2sim
from dexndm_learning.residual import train as residual_train
from dexndm_learning.residual.deploy import BaseResidualActor
from dexndm_learning.residual.gate import NdmEnsemble, ResidualGate, calibrate
from dexndm_learning.residual.refine import deployment_steps
from dexndm_learning.residual.select import BASE_ALONE, Trial, choose, trial_label, with_strength
from dexndm_learning.residual.train import ResidualConfig
from dexndm_learning.rl.cell_cache import file_sha256
from dexndm_learning.sim import grasps
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.reality import load_profile
from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig, RotationEnv
from dexndm_learning.studies.resumable import PhaseTimer, from_preset, lock_settings, write_json
from dexndm_learning.sysid.config import SysIdRunConfig
from dexndm_learning.sysid.fit import SysIdConfig

KINDS = ("joint", "whole")
ROBUST = "robust"
REFINED = "refined"
SELECTED = "selected"
DONE = "done.json"
FAILED = "failed.json"
DIRECT_LABEL = "base"
GATE_CALIBRATION_WINDOWS = 100_000



def start_grasp(cfg: PipelineConfig) -> GraspConfig:
    """The run's start grasps (``grasps.start_grasp``)."""
    return grasps.start_grasp(cfg.grasp_candidates, cfg.start_orientation, cfg.start_offset, cfg.axis_set)


def env_config(cfg: PipelineConfig, num_envs: int, episode_steps: int, **overrides) -> EnvConfig:
    """The rotation env of every phase in the target: the run's wrists, axes and start grasps."""
    return EnvConfig(num_envs=num_envs, wrists=list(cfg.wrists), axis_set=cfg.axis_set, episode_steps=episode_steps,
                     grasp=start_grasp(cfg), **overrides)


class Interrupted(Exception):
    """The Chaos Box collection was stopped (SIGINT / SIGTERM); rerun to continue."""


def _file_digest(path: Path) -> str:
    return file_sha256(path)[:16]


class Pipeline:
    def __init__(self, cfg: PipelineConfig, profile: str | Path, base: Path, out: Path,
                 rollouts_dir: Path | None = None):
        self.cfg, self.base, self.out = cfg, Path(base).resolve(), Path(out)
        self.rollouts_dir = Path(rollouts_dir) if rollouts_dir else self.out / "rollouts"
        self.profile_path = resolve_config(profile, "reality").resolve()
        self.profile_name = Path(profile).stem
        self.profile = load_profile(self.profile_path)        # a file outside the schema fails here
        self.sim_world = ("nominal" if cfg.sim_world == "nominal"
                          else str(resolve_config(cfg.sim_world, "reality").resolve()))
        load_profile(self.sim_world)
        self.threads = cfg.threads or os.cpu_count() or 1
        self.history = load_policy(self.base).spec.history
        self.timer = PhaseTimer(self.out / "timings.json")
        self.phase = self.timer.phase

    # ------------------------------------------------------------------ bookkeeping
    def settings(self) -> dict:
        cfg = {k: v for k, v in to_dict(self.cfg).items() if k not in RUNTIME_FIELDS + VARIANT_FIELDS}
        return {"pipeline": cfg, "profile": {"name": self.profile_name, **to_dict(self.profile)},
                "base": {"path": str(self.base), "sha256": _file_digest(self.base)}}

    def check_out_dir(self) -> None:
        """An output folder belongs to one study: other settings would mix data."""
        lock_settings(self.out / "pipeline.yaml", self.settings(), "sim2sim run", "--out")
        if robust_enabled(self.cfg):
            lock_settings(self.out / "robust.yaml", {k: getattr(self.cfg, k) for k in ROBUST_FIELDS},
                          "robust variant", "--out (or the robust options of the run in it)")
        if self.cfg.baselines:
            lock_settings(self.out / "baselines.yaml", {k: getattr(self.cfg, k) for k in BASELINE_FIELDS
                                                         if k != "baselines"},     # more rows join a finished run
                          "UAN / ASAP rows", "--out (or the baseline options of the run in it)")
        if refine_enabled(self.cfg):
            lock_settings(self.out / "refine.yaml", {k: getattr(self.cfg, k) for k in REFINE_FIELDS
                                                      if k != "refine_rounds"},     # more rounds continue
                          "refined variant", "--out (or the refine options of the run in it)")
        if select_enabled(self.cfg):
            lock_settings(self.out / "select.yaml", {k: getattr(self.cfg, k) for k in SELECT_FIELDS},
                          "selected variant", "--out (or the select options of the run in it)")

    def env_config(self, num_envs: int, episode_steps: int, **overrides) -> EnvConfig:
        return env_config(self.cfg, num_envs, episode_steps, **overrides)

    # ------------------------------------------------------------------ phases
    def rollouts_made_with(self) -> dict:
        """What the rollouts depend on; a shared ``--rollouts`` folder made otherwise is refused."""
        cfg = self.cfg
        return {"sim_world": self.sim_world, "base_sha256": _file_digest(self.base), "wrists": list(cfg.wrists),
                "axis_set": cfg.axis_set, "train_objects": cfg.train_objects, "start_orientation": cfg.start_orientation,
                "start_offset": [float(v) for v in cfg.start_offset], "rollout_steps": cfg.rollout_steps}

    def rollouts(self) -> Path:
        """Phase 1: the base policy's successful episodes in nominal sim."""
        cfg, root = self.cfg, self.rollouts_dir
        made_with = self.rollouts_made_with()
        if (root / DONE).exists():
            done = json.loads((root / DONE).read_text())
            saved = done.get("made_with", {"sim_world": done.get("sim_world", "nominal")})   # older runs: sim_world
            differ = sorted(k for k in saved if saved[k] != made_with.get(k))
            if differ:
                raise ValueError(f"{root}: rollouts made with other {', '.join(differ)} "
                                 f"({', '.join(f'{saved[k]} here, {made_with.get(k)} now' for k in differ)}); "
                                 "use another --rollouts folder")
            return root
        torch.set_num_threads(1)
        env = RotationEnv(self.env_config(cfg.rollout_envs, cfg.rollout_steps, object_set=cfg.train_objects,
                                          randomization=RandomizationConfig(enabled=False), reality=self.sim_world))
        policy = load_policy(self.base)
        max_batches = math.ceil(4 * cfg.rollout_episodes / cfg.rollout_envs)
        result = collect(env, lambda obs: policy(obs["proprio"]), root, cfg.rollout_episodes, resume=True,
                         meta={"base": str(self.base)}, max_batches=max_batches)
        env.stepper.close()
        per_wrist = {w: len(rollout_actions(root, w).actions) for w in cfg.wrists}
        if result["episodes"] < 2 or not all(per_wrist.values()):
            raise RuntimeError(f"the base policy kept the object in too few episodes ({per_wrist} of "
                               f"{max_batches * cfg.rollout_envs} tried) for Chaos Box replay and residual training")
        write_json(root / DONE, {**result, "per_wrist": per_wrist, "sim_world": self.sim_world, "made_with": made_with})
        return root

    def collect_bags(self, rollouts: Path) -> list[Path]:
        """Phase 2: Chaos Box bags in the target profile, one collection folder per wrist."""
        cfg, folders = self.cfg, []
        for wrist in cfg.wrists:
            folder = (self.out / "bags" / wrist).resolve()
            folders.append(folder)
            if CollectionProgress(folder).next_index >= cfg.box_trajectories:
                continue
            specs = graphs.build("chaos_box", wrist=wrist, sim=True, scene=cfg.scene, profile=str(self.profile_path),
                                 balls=cfg.n_balls, real_time_factor=float(cfg.rtf), source=str(rollouts.resolve()),
                                 trajectories=cfg.box_trajectories, steps=cfg.box_steps,
                                 noise_sigma=float(cfg.noise_sigma), recorder="node", out=str(folder), record_scene=False)
            result = chaos_collect.run(specs, private=True)     # two pipelines on one machine stay apart
            if result["interrupted"]:
                raise Interrupted(f"Chaos Box collection stopped with {result['completed']} trajectories of {wrist} "
                                  "in complete bags")
        return folders

    def sim_steps(self, rollouts: Path) -> Steps:
        """Phase 3a: the Chaos Box replay in nominal sim (no ROS), for NDM pretraining."""
        cfg, path = self.cfg, self.out / "pretrain" / "sim_steps.npz"
        if path.exists():
            return Steps.load(path)
        parts = []
        for i, wrist in enumerate(cfg.wrists):
            pool = rollout_actions(rollouts, wrist, cfg.box_steps)
            pick = np.arange(cfg.pretrain_trajectories) % len(pool.actions)
            trajectories = ActionTrajectories(pool.actions[pick], pool.start[pick])
            variant = SCENES[graphs.chaos_box_scene(cfg.scene, wrist)]
            if variant is None:
                parts.append(free_hand_steps(self.sim_world, wrist, trajectories, cfg.noise_sigma, seed=i))
            else:
                parts.append(chaos_box_steps(self.sim_world, wrist, trajectories, cfg.noise_sigma, seed=i, variant=variant,
                                             n_balls=cfg.n_balls or None))
        steps = Steps.concat(parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("sim_steps.partial.npz")
        steps.save(tmp)
        os.replace(tmp, path)
        return steps

    def ndm_config(self) -> NdmConfig:
        cfg, base = self.cfg, NdmConfig.load()
        return dataclasses.replace(base, model=dataclasses.replace(base.model, width=cfg.ndm_width),
                                   train=dataclasses.replace(base.train, epochs=cfg.ndm_epochs, threads=self.threads))

    def fit_ndm(self, run: Path, kind: str, get_steps: Callable[[], Steps], init: Path | None = None,
                seed: int | None = None, epochs: int | None = None) -> Path:
        """Phases 3b and 4: an NDM of ``kind`` on ``get_steps()`` (called only if it must be trained)."""
        if not (run / DONE).exists():
            cfg = self.ndm_config()
            if epochs is not None:
                cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=epochs))
            if seed is not None:     # another initialization and batch order, the same held-out split
                cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed, split_seed=cfg.train.seed))
            sim2sim.fit_target_ndm(get_steps(), kind, run, cfg, init)
            write_json(run / DONE, {"kind": kind, "init": str(init or "")})
        return run / "best.pt"

    def residual_config(self) -> ResidualConfig:
        cfg, base = self.cfg, ResidualConfig.load()
        return dataclasses.replace(base, width=cfg.residual_width, epochs=cfg.residual_epochs,
                                   chunk=min(base.chunk, cfg.rollout_steps), history=self.history,
                                   torch_threads=self.threads)

    def residual(self, kind: str, ndm: Path, rollouts: Path, run: Path | None = None) -> Path:
        """Phase 5: a residual through the frozen NDM ``ndm`` (in ``run``, default residual_<kind>)."""
        run = run or self.out / f"residual_{kind}"
        if not (run / "residual_result.json").exists():      # written last by residual training
            sim2sim.train_residual(ndm, [str(rollouts)], run, self.residual_config(), resume=True)
        return run / "residual.pt"

    def robust_residual(self, members: list[Path], rollouts: Path, get_steps: Callable[[], Steps]) -> Path:
        """Phase 5b: the residual through the ensemble of ``members`` (joint-wise ones predict; a
        whole-hand one last adds to the spread only), gated and penalized."""
        cfg, run = self.cfg, self.out / f"residual_{ROBUST}"
        if not (run / "residual_result.json").exists():
            ensemble = NdmEnsemble([load_model(p) for p in members], cfg.ndm_ensemble)
            gate = None
            if cfg.gate_quantile:
                windows = make_windows(get_steps(), ensemble.config.window).windows
                pick = np.random.default_rng(0).permutation(len(windows))[:GATE_CALIBRATION_WINDOWS]
                gate = ResidualGate(ensemble, calibrate(ensemble, windows[np.sort(pick)], cfg.gate_quantile),
                                    cfg.gate_quantile)
            rcfg = dataclasses.replace(self.residual_config(), disagreement_weight=cfg.disagreement_weight,
                                       data=[str(rollouts)])
            residual_train.train(rcfg, ensemble, ensemble.config.window, run, gate=gate, resume=True)
        return run / "residual.pt"

    def deployment(self, round_: int, residual: Path | None, label: str) -> Steps:
        """Phase 5c data: the base (+ ``residual``) deployed in the target on the training objects
        (``residual.refine``), seeds apart from the evaluation's."""
        cfg, path = self.cfg, self.out / f"refine_{round_}" / f"deployment_{label}.npz"
        if not path.exists():
            torch.set_num_threads(1)
            env_cfg = self.env_config(cfg.refine_envs, cfg.eval_steps)
            env = RotationEnv(sim2sim.eval_env_config(env_cfg, str(self.profile_path), cfg.train_objects,
                                                      1000 * (round_ + 1) + (label != DIRECT_LABEL)))
            steps = deployment_steps(env, BaseResidualActor(env, self.base, residual), cfg.refine_steps)
            env.stepper.close()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + ".partial.npz")
            steps.save(tmp)
            os.replace(tmp, path)
        return Steps.load(path)

    def refined_residual(self, rollouts: Path, bag_steps: Callable[[], Steps]) -> Path:
        """Phase 5c: ``refine_rounds`` rounds of deploy (round 1: the base and today's joint-wise
        residual; then the previous round's), refit the joint-wise NDM on the bags plus every
        deployment so far (fine-tuned from the previous round's) and retrain the residual."""
        cfg, recorded = self.cfg, []
        ndm, residual = self.out / "ndm_joint" / "best.pt", self.out / "residual_joint" / "residual.pt"
        for r in range(1, cfg.refine_rounds + 1):
            if r == 1:
                recorded.append(self.deployment(r, None, DIRECT_LABEL))
            recorded.append(self.deployment(r, residual, "residual"))
            data = lambda recorded=tuple(recorded): Steps.concat([bag_steps(), *recorded])  # noqa: E731
            ndm = self.fit_ndm(self.out / f"refine_{r}" / "ndm_joint", "joint", data, init=ndm,
                               epochs=cfg.refine_epochs)
            residual = self.residual(REFINED, ndm, rollouts, self.out / f"refine_{r}" / "residual")
        return residual

    def selection_tag(self) -> str:
        """Which residuals the selection chose among (a run that gains one selects again)."""
        cfg = self.cfg
        kinds = ["joint"] + [ROBUST] * robust_enabled(cfg) + [f"{REFINED}_r{cfg.refine_rounds}"] * refine_enabled(cfg)
        return "+".join(kinds)

    def trial(self, root: Path, label: str, residual: Path | None, strength: float) -> Trial:
        """The base (+ ``residual``) in the target on the training objects, ``select_seeds``."""
        cfg, path = self.cfg, root / "trials" / f"{label.replace(' ', '_')}.json"
        if not path.exists():
            summary, _ = sim2sim.evaluate_variant(self.base, residual, str(self.profile_path), cfg.train_objects,
                                                  self.env_config(cfg.eval_envs, cfg.eval_steps), cfg.select_seeds)
            write_json(path, {"residual": str(residual or ""), "strength": strength, "summary": summary})
        m = json.loads(path.read_text())["summary"]["all"]
        return Trial(label, residual, strength, m["RotR"][0], m["TTF"][0], m["RotR"][1], len(cfg.select_seeds))

    def selected_residual(self, residuals: dict[str, Path | None]) -> tuple[Path | None, list[Trial], Trial]:
        """Phase 5d: the base alone and each joint-wise residual at each of ``select_strengths`` in
        trial runs; the chosen one (``residual.select``) as ``select/<tag>/residual.pt`` (None: the
        base alone), with every trial."""
        cfg, root = self.cfg, self.out / "select" / self.selection_tag()
        torch.set_num_threads(1)
        trials = [self.trial(root, BASE_ALONE, None, 0.0)]
        for kind in ("joint", ROBUST, REFINED):
            if residuals.get(kind) is None:
                continue
            for strength in cfg.select_strengths:
                candidate = root / "candidates" / f"{kind}_x{strength:g}.pt"
                if not candidate.exists():
                    with_strength(residuals[kind], strength, candidate)
                trials.append(self.trial(root, trial_label(kind, strength), candidate, strength))
        best = choose(trials, cfg.select_ttf_margin, cfg.select_min_gain_se)
        chosen = None
        if best.residual is not None:
            chosen = root / "residual.pt"
            if not chosen.exists():
                shutil.copyfile(best.residual, chosen)         # the candidate carries its strength
        return chosen, trials, best

    def uan_model(self) -> Path:
        """Phase 7a: wave trajectories on the free hand in the target, through ROS 2 (the probing
        collection of ``dexndm sysid``, at UAN's wave speeds), and UAN's compensator fitted to them."""
        cfg, root = self.cfg, self.out / "uan"
        path = root / "compensator.pt"
        if not path.exists():
            wrist = cfg.wrists[0]
            run = SysIdRunConfig(trajectories=cfg.uan_trajectories, probe=WaveConfig(steps=cfg.uan_steps),
                                 fit=SysIdConfig(wrist=wrist))
            bags = sysid_command.collect(root, sysid_command.probe(root, run), run, True, str(self.profile_path),
                                         cfg.rtf)
            steps = _load_bag_steps([bags], NdmConfig.load().ingest)
            ucfg = uan.UanConfig(wrist=wrist)
            result = uan.fit(steps, ucfg)
            write_json(root / "report.json", {"tracking_error_mrad": round(1e3 * float(result.error.mean()), 3),
                                              "nominal_error_mrad": round(1e3 * float(result.nominal_error.mean()), 3)})
            uan.save(result, ucfg, load_policy(self.base).spec.hand_version, path)
        return path

    def asap_model(self) -> Path:
        """Phase 7b: the base policy's rotation steps in the target (training objects) and ASAP's
        delta-action model fitted to them."""
        cfg, root = self.cfg, self.out / "asap"
        path = root / "delta_model.pt"
        if not path.exists():
            torch.set_num_threads(1)
            env = RotationEnv(sim2sim.eval_env_config(self.env_config(cfg.asap_envs, cfg.asap_steps),
                                                      str(self.profile_path), cfg.train_objects, 500))
            transitions = asap.record(env, BaseResidualActor(env, self.base, None), cfg.asap_steps)
            nominal = RotationEnv(dataclasses.replace(env.cfg, reality="nominal"))
            acfg = asap.AsapConfig()
            twins = asap.NominalTwins(nominal, acfg)
            model = asap.fit(twins, transitions, acfg)
            write_json(root / "report.json", {
                "transitions": len(transitions),        # errors on the fitting data (fit-asap holds some out)
                "one_step_error_mrad": round(1e3 * float(asap.one_step_error(twins, transitions, model).mean()), 3),
                "nominal_one_step_error_mrad": round(1e3 * float(asap.one_step_error(twins, transitions, None).mean()), 3)})
            for e in (env, nominal):
                e.stepper.close()
            twins.close()
            root.mkdir(parents=True, exist_ok=True)
            asap.save(model, acfg, env.hand_cfg.version, path)
        return path

    def finetune(self, kind: str, model: Path | None) -> Path | None:
        """Phase 7c: the base distilled again from the teachers of ``teachers`` under their training
        conditions (their randomization included) with ``model`` correcting every command, from the
        base's weights (``bc.pipeline``, at this preset's sizes); with no model, the control row:
        what the fine-tuning alone does to the base. None (and ``FAILED`` in its folder, with the
        reason) where a teacher kept no object in the corrected sim: the row cannot be made."""
        cfg, root = self.cfg, self.out / f"finetune_{kind}"
        recipe = generalist.GeneralistRecipe.load(cfg.teachers)
        epochs = cfg.finetune_epochs
        share = cfg.finetune_episodes / max(t.episodes for t in recipe.teachers)   # the recipe's proportions
        recipe = dataclasses.replace(
            recipe, teachers=[dataclasses.replace(t, episodes=max(2, round(t.episodes * share))) for t in recipe.teachers],
            num_envs=min(recipe.num_envs, cfg.rollout_envs), samples_per_epoch=cfg.finetune_samples,
            bc=generalist.CloneStage(epochs, recipe.bc.lr),
            dagger=generalist.DaggerConfig(cfg.finetune_rounds, cfg.finetune_episodes, recipe.dagger.seed,
                                           [epochs] * cfg.finetune_rounds),
            final=generalist.CloneStage(epochs, recipe.final.lr), init=str(self.base),
            command_model=str(model) if model else None)
        steps = generalist.plan(recipe, root / "data", root / "runs")
        if (root / FAILED).exists():
            return None
        for step in steps:
            if not step.finished():
                try:
                    generalist.run_step(step)
                except NoSuccessfulEpisodes as e:      # the row is reported as failed; a rerun does not retry
                    write_json(root / FAILED, {"step": step.name, "reason": str(e)})
                    print(f"{kind}: fine-tuning failed: {e}", flush=True)
                    return None
        return root / "runs" / "final" / "policy.pt"

    def evaluate(self, residuals: dict[str, Path | None], bases: dict[str, Path] | None = None) -> tuple[dict, dict]:
        """Phase 6: {object set: {variant: summary}} and the objects left out per set; a variant of
        ``bases`` runs its own base policy instead of the pipeline's."""
        cfg, results, skipped, bases = self.cfg, {}, {}, bases or {}
        env_cfg = self.env_config(cfg.eval_envs, cfg.eval_steps)
        torch.set_num_threads(1)
        for object_set in (cfg.train_objects, cfg.test_objects):
            for key, residual in residuals.items():
                path = self.out / "eval" / f"{object_set}_{self.eval_label(key)}.json"
                if not path.exists():
                    summary, left_out = sim2sim.evaluate_variant(bases.get(key, self.base), residual,
                                                                 str(self.profile_path),
                                                                 object_set, env_cfg, cfg.seeds)
                    write_json(path, {"summary": summary, "skipped_objects": left_out})
                data = json.loads(path.read_text())
                name = sim2sim.VARIANT_OF_KIND.get(key, key)
                results.setdefault(object_set, {})[name] = data["summary"]
                skipped[object_set] = data["skipped_objects"]
        return results, skipped

    def eval_label(self, key: str) -> str:
        """The evaluation file's name for variant ``key``: the refined variant's is per round, the
        selected one's per set of candidates."""
        rounds = self.cfg.refine_rounds
        if key == SELECTED:
            return f"{key}_{self.selection_tag()}"
        return f"{key}_r{rounds}" if key == REFINED and rounds > 1 else key

    # ------------------------------------------------------------------ all
    def run(self) -> dict:
        cfg = self.cfg
        if (cfg.gate_quantile or cfg.disagreement_weight) and cfg.ndm_ensemble + cfg.ensemble_whole < 2:
            raise ValueError("gate_quantile and disagreement_weight need an ensemble of at least 2 NDMs: "
                             "--ndm-ensemble 2 or more, or --ensemble-whole true")
        unknown = set(cfg.baselines) - set(BASELINES)
        if unknown:
            raise ValueError(f"baselines: unknown {sorted(unknown)}; valid: {list(BASELINES)}")
        if not all(0 < s <= 1 for s in cfg.select_strengths):
            raise ValueError(f"select_strengths: each must be in (0, 1], got {cfg.select_strengths}")
        if len({trial_label("", s) for s in cfg.select_strengths}) < len(cfg.select_strengths):
            raise ValueError(f"select_strengths: repeated values {cfg.select_strengths}")
        if set(cfg.select_seeds) & set(cfg.seeds):
            raise ValueError(f"select_seeds {cfg.select_seeds} must differ from the evaluation's seeds {cfg.seeds}: "
                             "a residual chosen on the episodes it is scored on would look better than it is")
        start_grasp(cfg)                                 # a start it cannot make is refused before any work
        self.check_out_dir()
        with self.phase("rollouts (base policy, nominal sim)"):
            rollouts = self.rollouts()
        with self.phase("chaos box collection (ROS 2)"):
            bags = self.collect_bags(rollouts)
        bag_steps = functools.cache(lambda: _load_bag_steps(bags, NdmConfig.load().ingest))    # loaded on first use
        sim_steps = functools.cache(lambda: self.sim_steps(rollouts))
        residuals: dict[str, Path | None] = {sim2sim.DIRECT: None}
        for kind in KINDS:
            init = None
            if cfg.pretrain_trajectories:
                with self.phase(f"pretrain {kind} NDM (nominal sim)"):
                    init = self.fit_ndm(self.out / "pretrain" / f"ndm_{kind}", kind, sim_steps)
            with self.phase(f"fit {kind} NDM (bags)"):
                ndm = self.fit_ndm(self.out / f"ndm_{kind}", kind, bag_steps, init)
            with self.phase(f"train {kind} residual"):
                residuals[kind] = self.residual(kind, ndm, rollouts)
        if robust_enabled(cfg):
            members = [self.out / "ndm_joint" / "best.pt"]
            for seed in range(1, cfg.ndm_ensemble):
                init = self.out / "pretrain" / "ndm_joint" / "best.pt" if cfg.pretrain_trajectories else None
                with self.phase(f"fit joint NDM, ensemble member {seed} (bags)"):
                    members.append(self.fit_ndm(self.out / f"ndm_joint_seed{seed}", "joint", bag_steps, init, seed))
            if cfg.ensemble_whole:
                members.append(self.out / "ndm_whole" / "best.pt")
            with self.phase("train robust residual"):
                residuals[ROBUST] = self.robust_residual(members, rollouts, bag_steps)
        if refine_enabled(cfg):
            with self.phase("refine joint NDM and residual on deployment data"):
                residuals[REFINED] = self.refined_residual(rollouts, bag_steps)
        if select_enabled(cfg):
            with self.phase("select the residual and its strength by trial runs in the target"):
                residuals[SELECTED], self.trials, self.choice = self.selected_residual(residuals)
        bases: dict[str, Path] = {}
        self.failed: dict[str, str] = {}
        for kind in cfg.baselines:
            model = None
            if kind != CONTROL:
                with self.phase(f"{kind}: fit its model on target data"):
                    model = self.uan_model() if kind == "uan" else self.asap_model()
            with self.phase(f"{kind}: fine-tune the base in the {'corrected' if model else 'nominal'} sim"):
                base = self.finetune(kind, model)
            if base is None:
                self.failed[kind] = json.loads((self.out / f"finetune_{kind}" / FAILED).read_text())["reason"]
                continue
            bases[kind], residuals[kind] = base, None
        with self.phase("evaluate"):
            results, skipped = self.evaluate(residuals, bases)
        sim2sim.write_report(results, self.profile_name, self.out, skipped, self.appendix())
        return results

    def appendix(self) -> str:
        """Residual losses, settings and phase times, for the end of ``sim2sim.md``."""
        cfg = self.cfg
        rollouts = json.loads((self.rollouts_dir / DONE).read_text())
        lines = ["", f"Data: base-policy rollouts kept per wrist {rollouts['per_wrist']}; Chaos Box "
                 f"{cfg.box_trajectories} x {cfg.box_steps} steps per wrist, scene {cfg.scene}, "
                 f"noise sigma {cfg.noise_sigma} rad.", "",
                 "## Residual training (validation loss of the NDM's prediction vs the sim next state)", "",
                 "| NDM | loss | no residual | with residual |", "|---|---|---|---|"]
        runs = {kind: self.out / f"residual_{kind}" for kind in KINDS + ((ROBUST,) if robust_enabled(cfg) else ())}
        if refine_enabled(cfg):
            runs[REFINED] = self.out / f"refine_{cfg.refine_rounds}" / "residual"
        for kind, run in runs.items():
            r = json.loads((run / "residual_result.json").read_text())
            lines.append(f"| {kind} | {r['loss']} | {r['zero_residual_val_loss']:.4g} | {r['best_val_loss']:.4g} |")
        for name, fields, on in (("Robust", ROBUST_FIELDS, robust_enabled(cfg)), ("Refined", REFINE_FIELDS, refine_enabled(cfg)),
                                 ("Selected", SELECT_FIELDS, select_enabled(cfg))):
            if on:
                lines += ["", f"{name} variant: " + ", ".join(f"{k} {getattr(cfg, k)}" for k in fields) + "."]
        if select_enabled(cfg):
            lines += ["", f"Trial runs of the selection ({cfg.train_objects}, seeds {cfg.select_seeds}); kept: "
                      f"**{self.choice.label}**.", "", "| candidate | RotR | TTF |", "|---|---|---|"]
            lines += [f"| {t.label} | {t.rotr:.1f} | {t.ttf:.2f} |" for t in self.trials]
        for kind, reason in self.failed.items():
            lines += ["", f"**{kind.upper()}: no row.** Its fine-tuning failed: {reason}."]
        for kind in [k for k in cfg.baselines if k != CONTROL]:      # the control fits no model
            report = json.loads((self.out / kind / "report.json").read_text())
            lines += ["", f"{kind.upper()} model on its data (nominal sim, mrad): " +
                      ", ".join(f"{k} {v}" for k, v in report.items()) + "."]
        lines += ["", "## Settings", "", "```yaml",
                  yaml.safe_dump(self.settings(), sort_keys=False, default_flow_style=None).rstrip(), "```", "",
                  "## Wall time per phase (s)", "", "```json", (self.out / "timings.json").read_text(), "```", ""]
        return "\n".join(lines)


def _load_bag_steps(folders: list[Path], ingest) -> Steps:
    steps, errors = load_bags(folders, ingest)
    for err in errors:
        print(f"skipped bag: {err}", flush=True)
    if not len(steps):
        raise RuntimeError(f"no usable control steps in the bags of {[str(f) for f in folders]}")
    return steps


def run(profile: str, out: Path, preset: str = "small", base: Path = Path("models/generalist/base.pt"),
        rollouts_dir: Path | None = None, **overrides) -> dict:
    """The pipeline with ``preset``'s sizes and ``overrides`` (PipelineConfig fields; None = preset's);
    ``rollouts_dir``: phase 1's folder when it is shared by several runs (default ``out/rollouts``:
    the rollouts do not depend on the profile, so runs of one base policy and settings can share them)."""
    cfg = from_preset(PRESETS, preset, **overrides)
    if cfg.scene not in ("auto", *SCENES):
        raise ValueError(f"scene must be auto or one of {list(SCENES)}, got '{cfg.scene}'")
    return Pipeline(cfg, profile, base, out, rollouts_dir).run()
