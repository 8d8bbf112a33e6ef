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
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from rsl_rl.runners import OnPolicyRunner
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from dexndm_learning.config import load_yaml, repo_root, resolve_config, to_dict
from dexndm_learning.rl.vec_env import RslRlRotationEnv
from dexndm_learning.sim.axes import axis_label
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
    torch_threads: int = 1
    seed: int = 0

    @classmethod
    def load(cls, name_or_path: str) -> "SpecialistConfig":
        return load_yaml(cls, resolve_config(name_or_path, "specialists"))


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


def make_runner(cfg: SpecialistConfig, num_envs: int | None = None) -> tuple[OnPolicyRunner, RslRlRotationEnv]:
    env_cfg = cfg.env if num_envs is None else type(cfg.env)(**{**cfg.env.__dict__, "num_envs": num_envs})
    env = RslRlRotationEnv(RotationEnv(env_cfg))
    runner = OnPolicyRunner(env, runner_config(cfg.ppo), log_dir=None, device="cpu")
    return runner, env


def _git_commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=repo_root() or ".", text=True).strip()
    except Exception:
        return "unknown"


def save_checkpoint(runner: OnPolicyRunner, path: Path, iteration: int, env_steps: int, wall: float) -> None:
    state = runner.alg.save()
    # resets per env drive the rotation-penalty curriculum and axis_ttf the axis balancing: a
    # resume continues both where they were
    state.update(iter=iteration, env_steps=env_steps, wall_time=wall,
                 resets_per_env=float(runner.env.env.resets.mean()), axis_ttf=runner.env.env.axis_ttf.tolist())
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(runner: OnPolicyRunner, path: Path) -> dict:
    state = torch.load(path, weights_only=False)
    runner.alg.load(state, load_cfg=None, strict=True)
    runner.env.env.resets[:] = round(state.get("resets_per_env", 0.0))
    if len(state.get("axis_ttf", [])) == len(runner.env.env.axis_ttf):
        runner.env.env.axis_ttf[:] = state["axis_ttf"]
    return state


def train(cfg: SpecialistConfig, run_dir: Path, resume: bool = False, iterations: int | None = None) -> dict:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.torch_threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / "checkpoint.pt"
    runner, env = make_runner(cfg)
    start_it, env_steps, wall0 = 0, 0, 0.0
    if resume and ckpt.exists():
        state = load_checkpoint(runner, ckpt)
        start_it, env_steps, wall0 = state["iter"] + 1, state["env_steps"], state["wall_time"]
    else:
        # Stagger episode ends so resets (and drop statistics) do not all happen together.
        env.env.episode_length[:] = torch.randint(0, cfg.env.episode_steps, (env.num_envs,)).numpy()
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
    new_file = not (run_dir / "progress.csv").exists() or start_it == 0
    progress = (run_dir / "progress.csv").open("w" if start_it == 0 else "a", newline="")
    csv_out = csv.writer(progress)
    if new_file:
        csv_out.writerow(["iteration", "env_steps", "wall_s", "mean_reward", "omega_along_axis", "drop_rate"])
    alg = runner.alg
    alg.train_mode()
    env.env.training_steps = env_steps
    obs = env.get_observations()
    t_start = time.monotonic()
    last_ckpt = t_start
    steps_per_it = cfg.ppo.steps_per_env * env.num_envs
    summary: dict = {}
    bar = tqdm(range(start_it, total), initial=start_it, total=total, desc="PPO", unit="it")
    try:
        for it in bar:
            t0 = time.monotonic()
            logs: dict[str, float] = {}
            rew_sum = 0.0
            with torch.inference_mode():
                for _ in range(cfg.ppo.steps_per_env):
                    actions = alg.act(obs)
                    obs, rewards, dones, extras = env.step(actions)
                    alg.process_env_step(obs, rewards, dones, extras)
                    rew_sum += float(rewards.mean())
                    for k, v in extras["log"].items():
                        logs[k] = logs.get(k, 0.0) + v / cfg.ppo.steps_per_env
                alg.compute_returns(obs)
            t1 = time.monotonic()
            losses = alg.update()
            t2 = time.monotonic()
            env_steps += steps_per_it
            env.env.training_steps = env_steps
            wall = wall0 + (t2 - t_start)
            mean_rew = rew_sum / cfg.ppo.steps_per_env
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
            writer.add_scalar("perf/collect_share", (t1 - t0) / (t2 - t0), env_steps)
            csv_out.writerow([it, env_steps, round(wall, 1), round(mean_rew, 4),
                              round(logs.get("/task/omega_along_axis", 0.0), 4),
                              round(logs.get("/task/drop_rate", 0.0), 5)])
            bar.set_postfix(steps_s=f"{steps_per_it / (t2 - t0):.0f}", rew=f"{mean_rew:.3f}",
                            w=f"{logs.get('/task/omega_along_axis', 0.0):.2f}")
            summary = {"iteration": it, "env_steps": env_steps, "wall_s": wall, "mean_reward": mean_rew}
            if time.monotonic() - last_ckpt > 60 * cfg.checkpoint_minutes:
                save_checkpoint(runner, ckpt, it, env_steps, wall)
                progress.flush()
                last_ckpt = time.monotonic()
    except KeyboardInterrupt:       # Ctrl-C / SIGINT: keep what was learned up to the last iteration
        summary["interrupted"] = True
    finally:
        if "iteration" in summary:
            save_checkpoint(runner, ckpt, summary["iteration"], summary["env_steps"], summary["wall_s"])
        progress.close()
        writer.close()
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train a rotation specialist (PPO, rsl_rl).")
    ap.add_argument("--config", required=True, help="name in config/specialists/ or a YAML path")
    ap.add_argument("--run-dir", default=None, help="default runs/specialists/<config name>")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--iterations", type=int, default=None, help="total iterations (default from config)")
    args = ap.parse_args(argv)
    cfg = SpecialistConfig.load(args.config)
    run_dir = Path(args.run_dir or Path("runs/specialists") / Path(args.config).stem)
    # SIGTERM (kill, a stopped session) and SIGINT (also delivered to background jobs, which
    # ignore it by default) stop training like Ctrl-C: with a final checkpoint.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.default_int_handler)
    print(train(cfg, run_dir, resume=args.resume, iterations=args.iterations))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
