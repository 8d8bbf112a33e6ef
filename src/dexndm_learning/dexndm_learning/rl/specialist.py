"""Train a rotation specialist with rsl_rl's PPO on the batched MuJoCo environment.

    dexndm-learn train-specialist --config cyl_palm_up [--resume] [--iterations N]

A run folder ``runs/specialists/<config>/`` holds the resolved config, the git commit,
TensorBoard scalars (per reward term and task metric), ``checkpoint.pt`` written atomically
every few minutes and at the end, and ``progress.csv``. ``--resume`` continues from the
checkpoint: a killed run loses at most the work since its last checkpoint.

The loop is rsl_rl's (act, step, process_env_step, compute_returns, update) with our progress
bar, time-based checkpoints and logging around it.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from rsl_rl.runners import OnPolicyRunner
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from dexndm_learning.rl import distributed
from dexndm_learning.config import add_set_option, dotted_overrides, load_yaml, repo_root, resolve_config, to_dict
from dexndm_learning.arrays import like
from dexndm_learning.rl.vec_env import RslRlRotationEnv
from dexndm_learning.sim.axes import axis_label
from dexndm_learning.sim.hand_model import check_hand_version
from dexndm_learning.steal_clock import StealCorrectedClock
from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv


@dataclass
class PPOConfig:
    steps_per_env: int = 16
    learning_epochs: int = 5
    mini_batches: int = 4
    clip_param: float = 0.2
    gamma: float = 0.99
    lam: float = 0.95
    entropy_coef: float = 0.0
    learning_rate: float = 3e-4
    desired_kl: float = 0.01
    max_grad_norm: float = 1.0
    init_std: float = 0.8
    actor_hidden: list[int] = field(default_factory=lambda: [256, 128, 64])
    critic_hidden: list[int] = field(default_factory=lambda: [256, 128, 64])


@dataclass
class SpecialistConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    iterations: int = 1000
    checkpoint_minutes: float = 5.0
    # Equal-wall-clock comparisons: stop once the run's training time (summed over resumes, on
    # the steal-corrected clock of ``steal_clock``, so runs on a busy host compare fairly) reaches
    # ``budget_minutes`` (0: no limit), and keep a copy of the checkpoint as
    # ``checkpoint_<m>min.pt`` when it first passes each of ``snapshot_minutes``.
    budget_minutes: float = 0.0
    snapshot_minutes: list[float] = field(default_factory=list)
    # Warm start (a fresh run only): the actor, critic and their observation normalizers from
    # another run's checkpoint. Made on another hand version is allowed here: the weights are a
    # starting point, the training that follows is on this run's hand.
    init_checkpoint: str | None = None
    # With a warm start: the first N iterations update the critic only (actor weights, action std
    # and learning rate held). The copied critic values the old task until it has re-fitted; and
    # with the actor held, progress.csv shows what the copied gait does on the new task before
    # PPO changes it.
    critic_warmup_iterations: int = 0
    # Minutes it took to make ``init_checkpoint`` when it was made for this run (e.g. behaviour
    # cloning for it): a fresh run starts its budget clock there, so snapshots and the budget
    # count that time too.
    init_minutes: float = 0.0
    # Torch threads while collecting (policy inference, ~2 % of the time) and during the PPO update
    # (~25 % with one thread). Idle torch threads spin and slow MuJoCo's physics threads, so
    # collection keeps one; the update has the cores to itself (benchmarks/ppo_throughput.py: on
    # 2 cores, 2 update threads took the update from 26 % to 17 % of the time).
    torch_threads: int = 1
    update_threads: int = 2
    seed: int = 0

    def __post_init__(self):
        if self.torch_threads < 1 or self.update_threads < 1:
            raise ValueError(f"torch_threads ({self.torch_threads}) and update_threads ({self.update_threads}) "
                             f"must be >= 1")
        if self.critic_warmup_iterations < 0 or (self.critic_warmup_iterations and not self.init_checkpoint):
            raise ValueError(f"critic_warmup_iterations: {self.critic_warmup_iterations} needs a warm start "
                             f"(init_checkpoint) and a count >= 0")

    @classmethod
    def load(cls, name_or_path: str, overrides: dict | None = None) -> "SpecialistConfig":
        return load_yaml(cls, resolve_config(name_or_path, "specialists"), overrides)


def runner_config(p: PPOConfig) -> dict:
    """rsl_rl 5.x train_cfg for an actor on the privileged (``policy``) group."""
    return {
        "num_steps_per_env": p.steps_per_env,
        "save_interval": 10 ** 9,            # checkpoints are ours (time-based, atomic)
        "obs_groups": {"actor": ["policy"], "critic": ["critic"]},
        "algorithm": {
            "class_name": "PPO", "num_learning_epochs": p.learning_epochs, "num_mini_batches": p.mini_batches,
            "clip_param": p.clip_param, "gamma": p.gamma, "lam": p.lam, "value_loss_coef": 1.0,
            "entropy_coef": p.entropy_coef, "learning_rate": p.learning_rate, "max_grad_norm": p.max_grad_norm,
            "schedule": "adaptive", "desired_kl": p.desired_kl,
        },
        "actor": {"class_name": "MLPModel", "hidden_dims": list(p.actor_hidden), "activation": "elu",
                  "obs_normalization": True,
                  "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": p.init_std}},
        "critic": {"class_name": "MLPModel", "hidden_dims": list(p.critic_hidden), "activation": "elu",
                   "obs_normalization": True},
    }


def run_config(run_dir: Path) -> SpecialistConfig:
    """The resolved config a specialist run folder was trained with (its ``config.yaml``)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a specialist run folder (no config.yaml in it)")
    return SpecialistConfig.load(str(path))


def run_hand_version(run_dir: Path) -> str:
    """The hand version a specialist run's checkpoint was trained on ("?" without a checkpoint;
    checkpoints made before hand versions existed carry none and are v1)."""
    path = Path(run_dir) / "checkpoint.pt"
    if not path.exists():
        return "?"
    return torch.load(path, map_location="cpu", weights_only=False).get("hand_version") or "v1"


def make_runner(cfg: SpecialistConfig, num_envs: int | None = None,
                ranks: distributed.Ranks = distributed.Ranks()) -> tuple[OnPolicyRunner, RslRlRotationEnv]:
    """The runner and its environments; with several ranks each has its own environment seed and
    rank 0 builds the start grasps first (the others read them from the cache)."""
    env_cfg = type(cfg.env)(**{**cfg.env.__dict__, "seed": cfg.env.seed + ranks.rank,
                               **({"num_envs": num_envs} if num_envs is not None else {})})
    if env_cfg.backend == "warp" and not env_cfg.warp_device and ranks.distributed and torch.cuda.is_available():
        env_cfg.warp_device = f"cuda:{ranks.local_rank}"        # one GPU per rank
    on_gpu = (env_cfg.backend == "warp" and env_cfg.arrays == "torch" and torch.cuda.is_available()
              and not env_cfg.warp_device.startswith("cpu"))
    distributed.start(ranks, "cuda" if on_gpu else "cpu")
    if not ranks.main:
        distributed.barrier(ranks)          # wait for rank 0's grasps
    env = RslRlRotationEnv(RotationEnv(env_cfg))
    if ranks.main:
        distributed.barrier(ranks)
    runner = distributed.DistributedRunner(env, runner_config(cfg.ppo), log_dir=None, device=env.device)
    return runner, env


def _git_commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=repo_root() or ".", text=True).strip()
    except Exception:
        return "unknown"


def save_checkpoint(runner: OnPolicyRunner, path: Path, iteration: int, env_steps: int, wall: float,
                    budget_time: float | None = None) -> None:
    state = runner.alg.save()
    # resets per env drive the rotation-penalty curriculum and axis_ttf the axis balancing: a
    # resume continues both where they were
    state.update(iter=iteration, env_steps=env_steps, wall_time=wall, budget_time=wall if budget_time is None else budget_time,
                 hand_version=runner.env.env.hand_cfg.version,
                 resets_per_env=float(runner.env.env.resets.mean()), axis_ttf=runner.env.env.axis_ttf.tolist())
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(runner: OnPolicyRunner, path: Path) -> dict:
    state = torch.load(path, weights_only=False)
    check_hand_version(state.get("hand_version"), runner.env.env.hand_cfg.version, f"checkpoint {path}")
    runner.alg.load(state, load_cfg=None, strict=True)
    runner.env.env.resets[:] = round(state.get("resets_per_env", 0.0))
    if len(state.get("axis_ttf", [])) == len(runner.env.env.axis_ttf):
        runner.env.env.axis_ttf[:] = like(state["axis_ttf"], runner.env.env.axis_ttf)
    return state


def warm_start(runner: OnPolicyRunner, path: Path) -> None:
    """Load another run's weights and normalizers (not its optimizer, step count or curriculum)."""
    state = torch.load(path, weights_only=False)
    runner.alg.load(state, load_cfg={"actor": True, "critic": True}, strict=True)


def critic_only_update(alg) -> dict:
    """One PPO update that changes the critic alone: the actor's parameters take no gradient
    (Adam skips them) and the learning rate the KL rule would adapt is put back."""
    params = list(alg.actor.parameters())
    lr = alg.learning_rate
    for p in params:
        p.requires_grad_(False)
    try:
        return alg.update()
    finally:
        for p in params:
            p.requires_grad_(True)
        alg.learning_rate = lr
        for group in alg.optimizer.param_groups:
            group["lr"] = lr


@contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch threads, then go back to the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def ppo_update(cfg: SpecialistConfig, alg, iteration: int) -> dict:
    """The iteration's update on ``update_threads`` threads: the critic alone while it warms up
    after a warm start, else PPO's."""
    warming_critic = bool(cfg.init_checkpoint) and iteration < cfg.critic_warmup_iterations
    with torch_threads(cfg.update_threads):
        return critic_only_update(alg) if warming_critic else alg.update()


def _snapshot_due(cfg: SpecialistConfig, run_dir: Path, budget_time: float) -> list[Path]:
    return [run_dir / f"checkpoint_{m:g}min.pt" for m in cfg.snapshot_minutes
            if budget_time >= 60 * m and not (run_dir / f"checkpoint_{m:g}min.pt").exists()]


def _progress_bar(cfg: SpecialistConfig, start_it: int, total: int, budget0: float) -> tqdm:
    """Iterations done of ``total``, or, when a time budget ends the run, its minutes spent (on the
    steal-corrected clock) of ``budget_minutes``, so that the bar's end is the run's end."""
    if cfg.budget_minutes > 0:
        return tqdm(total=float(cfg.budget_minutes), initial=budget0 / 60, desc="PPO", unit="min",
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:g} min "
                               "[{elapsed}<{remaining}{postfix}]")
    return tqdm(total=total, initial=start_it, desc="PPO", unit="it")


def train(cfg: SpecialistConfig, run_dir: Path, resume: bool = False, iterations: int | None = None) -> dict:
    """Train (or continue) the specialist in ``run_dir``; under torchrun every rank runs this and
    rank 0 alone writes (``rl.distributed``)."""
    ranks = distributed.from_environment()
    torch.manual_seed(cfg.seed + ranks.rank)
    torch.set_num_threads(cfg.torch_threads)
    ckpt = run_dir / "checkpoint.pt"
    resuming = resume and ckpt.exists()
    if not resuming and cfg.init_checkpoint and not Path(cfg.init_checkpoint).is_file():   # before the env is built
        raise FileNotFoundError(f"init_checkpoint: {cfg.init_checkpoint} does not exist "
                                f"(a relative path is read from {Path.cwd()})")
    run_dir.mkdir(parents=True, exist_ok=True)
    runner, env = make_runner(cfg, ranks=ranks)
    start_it, env_steps, wall0, budget0 = 0, 0, 0.0, 0.0
    if resuming:
        state = load_checkpoint(runner, ckpt)
        start_it, env_steps, wall0 = state["iter"] + 1, state["env_steps"], state["wall_time"]
        budget0 = state.get("budget_time", wall0)
        if cfg.budget_minutes > 0 and budget0 >= 60 * cfg.budget_minutes:   # already spent: nothing to do
            return {"iteration": state["iter"], "env_steps": env_steps, "wall_s": wall0, "budget_s": budget0,
                    "wall_limit": True}
    else:
        if cfg.init_checkpoint:
            warm_start(runner, Path(cfg.init_checkpoint))
        budget0 = 60 * cfg.init_minutes
        # Stagger episode ends so resets (and drop statistics) do not all happen together.
        lengths = torch.randint(0, cfg.env.episode_steps, (env.num_envs,))
        env.env.episode_length[:] = lengths.to(env.device) if env.on_device else lengths.numpy()
    if ranks.distributed:                    # every rank starts from rank 0's weights
        runner.alg.broadcast_parameters()
    if not ranks.main:
        return _follow(cfg, runner, env, ranks, start_it, env_steps, iterations if iterations is not None else cfg.iterations)
    # config.yaml is the config in force from the latest (re)start on; history.txt records every
    # start and resume with its iteration and git commit, so a run that was resumed with changed
    # settings says so.
    (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    (run_dir / "git_commit.txt").write_text(_git_commit() + "\n")
    with (run_dir / "history.txt").open("a") as f:
        f.write(f"{'resume' if start_it else 'start'} at iteration {start_it}, env steps {env_steps}, "
                f"commit {_git_commit()}\n")
    total = iterations if iterations is not None else cfg.iterations
    writer = SummaryWriter(str(run_dir / "tb"))
    columns = ["iteration", "env_steps", "wall_s", "mean_reward", "omega_along_axis", "drop_rate", "budget_s"]
    new_file = not (run_dir / "progress.csv").exists() or start_it == 0
    if not new_file:    # a run started before budget_s was recorded keeps its six columns
        with (run_dir / "progress.csv").open() as f:
            columns = columns[:len(next(csv.reader(f), columns))]
    progress = (run_dir / "progress.csv").open("w" if start_it == 0 else "a", newline="")
    csv_out = csv.writer(progress)
    if new_file:
        csv_out.writerow(columns)
    alg = runner.alg
    alg.train_mode()
    env.env.training_steps = env_steps
    obs = env.get_observations()
    t_start = time.monotonic()
    clock = StealCorrectedClock(offset=budget0)
    last_ckpt = t_start
    steps_per_it = cfg.ppo.steps_per_env * env.num_envs * ranks.world_size      # all ranks' steps
    summary: dict = {}
    bar = _progress_bar(cfg, start_it, total, budget0)
    try:
        for it in range(start_it, total):
            t0 = time.monotonic()
            logs: dict = {}
            rew_sum = 0.0           # summed as tensors: read once per iteration, not per step
            with torch.inference_mode():
                for _ in range(cfg.ppo.steps_per_env):
                    actions = alg.act(obs)
                    obs, rewards, dones, extras = env.step(actions)
                    alg.process_env_step(obs, rewards, dones, extras)
                    rew_sum = rew_sum + rewards.mean()
                    for k, v in extras["log"].items():
                        logs[k] = logs.get(k, 0.0) + v / cfg.ppo.steps_per_env
                alg.compute_returns(obs)
            t1 = time.monotonic()
            losses = ppo_update(cfg, alg, it)
            t2 = time.monotonic()
            env_steps += steps_per_it
            env.env.training_steps = env_steps
            wall = wall0 + (t2 - t_start)
            budget_time = clock.tick()
            mean_rew = float(rew_sum) / cfg.ppo.steps_per_env
            logs = {k: float(v) for k, v in logs.items()}
            for k, v in logs.items():
                writer.add_scalar(k.lstrip("/"), v, env_steps)
            for k, v in losses.items():
                writer.add_scalar(f"loss/{k}", float(v), env_steps)
            writer.add_scalar("train/mean_step_reward", mean_rew, env_steps)
            writer.add_scalar("train/gravity_scale", env.env.gravity_scale(), env_steps)
            if cfg.env.curriculum.balance_axes_ema > 0:      # the running TTF exists only then
                for a, ttf in zip(env.env.axes, env.env.axis_ttf):
                    writer.add_scalar(f"axis_ttf/{axis_label(a)}", ttf, env_steps)
            writer.add_scalar("train/action_std", float(alg.get_policy().output_std.detach().mean()), env_steps)
            writer.add_scalar("perf/steps_per_s", steps_per_it / (t2 - t0), env_steps)
            writer.add_scalar("perf/steal_share", clock.steal_seconds / max(wall - wall0, 1e-9), env_steps)
            writer.add_scalar("perf/collect_share", (t1 - t0) / (t2 - t0), env_steps)
            csv_out.writerow([it, env_steps, round(wall, 1), round(mean_rew, 4),
                              round(logs.get("/task/omega_along_axis", 0.0), 4),
                              round(logs.get("/task/drop_rate", 0.0), 5), round(budget_time, 1)][:len(columns)])
            bar.update(min(budget_time / 60, bar.total) - bar.n if cfg.budget_minutes > 0 else 1)
            bar.set_postfix(steps_s=f"{steps_per_it / (t2 - t0):.0f}", rew=f"{mean_rew:.3f}",
                            w=f"{logs.get('/task/omega_along_axis', 0.0):.2f}")
            summary = {"iteration": it, "env_steps": env_steps, "wall_s": wall, "budget_s": budget_time,
                       "mean_reward": mean_rew}
            snapshots = _snapshot_due(cfg, run_dir, budget_time)
            out_of_time = distributed.agree_to_stop(ranks, cfg.budget_minutes > 0 and budget_time >= 60 * cfg.budget_minutes)
            if snapshots or out_of_time or time.monotonic() - last_ckpt > 60 * cfg.checkpoint_minutes:
                save_checkpoint(runner, ckpt, it, env_steps, wall, budget_time)
                for snap in snapshots:
                    shutil.copyfile(ckpt, snap)
                progress.flush()
                last_ckpt = time.monotonic()
            if out_of_time:
                summary["wall_limit"] = True
                break
    except KeyboardInterrupt:       # Ctrl-C / SIGINT: keep what was learned up to the last iteration
        summary["interrupted"] = True
    finally:
        if "iteration" in summary:
            save_checkpoint(runner, ckpt, summary["iteration"], summary["env_steps"], summary["wall_s"],
                            summary["budget_s"])
        progress.close()
        writer.close()
        bar.close()
    if ranks.distributed and not summary.get("interrupted"):     # a stopped rank cannot join a collective
        per_rank = distributed.gather(ranks, {"digest": distributed.digest([alg.actor, alg.critic]),
                                              "mean_reward": summary.get("mean_reward")})
        (run_dir / "ranks.json").write_text(json.dumps({"world_size": ranks.world_size, "ranks": per_rank}, indent=1))
    distributed.finish(ranks)
    return summary


def _follow(cfg: SpecialistConfig, runner: OnPolicyRunner, env: RslRlRotationEnv, ranks: distributed.Ranks,
            start_it: int, env_steps: int, total: int) -> dict:
    """A rank other than 0: the same iterations (rollout, update with the shared gradients), no
    files; stops when rank 0 does."""
    alg = runner.alg
    alg.train_mode()
    env.env.training_steps = env_steps
    obs = env.get_observations()
    steps_per_it = cfg.ppo.steps_per_env * env.num_envs * ranks.world_size
    last, rew_sum = start_it - 1, 0.0
    for it in range(start_it, total):
        last, rew_sum = it, 0.0
        with torch.inference_mode():
            for _ in range(cfg.ppo.steps_per_env):
                obs, rewards, dones, extras = env.step(alg.act(obs))
                alg.process_env_step(obs, rewards, dones, extras)
                rew_sum += float(rewards.mean())
            alg.compute_returns(obs)
        ppo_update(cfg, alg, it)
        env_steps += steps_per_it
        env.env.training_steps = env_steps
        if distributed.agree_to_stop(ranks, False):
            break
    distributed.gather(ranks, {"digest": distributed.digest([alg.actor, alg.critic]),
                               "mean_reward": rew_sum / cfg.ppo.steps_per_env})
    distributed.finish(ranks)
    return {"iteration": last, "env_steps": env_steps, "rank": ranks.rank}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train a rotation specialist (PPO, rsl_rl).")
    ap.add_argument("--config", required=True, help="name in config/specialists/ or a YAML path")
    ap.add_argument("--run-dir", default=None, help="default runs/specialists/<config name>")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--iterations", type=int, default=None, help="total iterations (default from config)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="training time limit on the steal-corrected clock (same as --set budget_minutes=M)")
    add_set_option(ap)
    args = ap.parse_args(argv)
    overrides = dotted_overrides(args.set)
    if args.minutes is not None:
        overrides["budget_minutes"] = args.minutes
    cfg = SpecialistConfig.load(args.config, overrides)
    run_dir = Path(args.run_dir or Path("runs/specialists") / Path(args.config).stem)
    # SIGTERM (kill, a stopped session) and SIGINT (also delivered to background jobs, which
    # ignore it by default) stop training like Ctrl-C: with a final checkpoint.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.default_int_handler)
    print(train(cfg, run_dir, resume=args.resume, iterations=args.iterations))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
