"""Issue 25, item 4: a +z warm start from time-reversed -z episodes.

    .venv/bin/python scripts/reverse_gait.py --out models/learner/reversed_bc

1. A -z policy (default: specialist (a), trained on hand v1) runs on the learner comparison's
   conditions (hand v2, palm up, normal cylinders, training randomization, no disturbances) for
   ``--steps`` control steps.
2. Each env then gets +z as its axis and replays its own targets backwards, open loop
   (a_T, a_{T-1}, ..., a_0): reversing a finger gait reverses the rotation only if the contacts
   hold, so this step measures how well the reversed targets keep and turn the object.
3. A fresh actor of the comparison's architecture is fitted (behaviour cloning, MSE on the action
   mean, observation normalizer fitted to the same data) to the reversed actions on the episodes
   that kept the object in both directions, and saved as a checkpoint for ``init_checkpoint``.

Prints and writes ``reverse_gait.json``: rotation and drops both ways, the BC fit, and the wall
time (steal-corrected, as the comparison counts it: this warm start was made for +z, so its time
counts against the variant's budget).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from tensordict import TensorDict

from dexndm_learning.policy import contract
from dexndm_learning.rl.specialist import SpecialistConfig, make_runner, warm_start
from dexndm_learning.sim.rotation_reward import rotate_quat_about
from dexndm_learning.sim.wrist import from_wxyz
from dexndm_learning.steal_clock import StealCorrectedClock


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="learner/ppo", help="the variant whose conditions and actor are used")
    ap.add_argument("--policy", default="models/specialists/cyl_palm_up/checkpoint.pt", help="-z checkpoint")
    ap.add_argument("--envs", type=int, default=256)
    ap.add_argument("--steps", type=int, default=200, help="control steps each way (20 Hz)")
    ap.add_argument("--bc-steps", type=int, default=1500)
    ap.add_argument("--bc-std", type=float, default=0.3, help="action std the warm-started actor starts with")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    clock = StealCorrectedClock()
    t0 = time.monotonic()
    cfg = SpecialistConfig.load(args.config)
    env_cfg = dataclasses.replace(cfg.env, num_envs=args.envs, axis_set="-z", disturbance_prob=0.0,
                                  episode_steps=2 * args.steps + 10, seed=4242)
    runner, venv = make_runner(dataclasses.replace(cfg, env=env_cfg))
    warm_start(runner, Path(args.policy))
    env = venv.env
    dt = contract.CONTROL_DT

    # 1: forward, about -z
    policy = runner.get_inference_policy()
    n, T = env.num_envs, args.steps
    targets = [env.targets.copy()]
    held, rot_fwd = np.ones(n, bool), np.zeros(n)
    obs = venv.get_observations()
    for _ in range(T):
        with torch.inference_mode():
            obs, _, done, _ = venv.step(policy(obs))
        rot_fwd += held * dt * np.einsum("ni,ni->n", env_omega(env), env.axis_hand)
        held &= ~done.numpy()
        targets.append(env.targets.copy())
    targets = np.stack(targets, 1)                                     # (n, T+1, 16)

    # 2: reversed targets, about +z
    env.axis_world[:] = [0.0, 0.0, 1.0]
    for i in range(n):
        env.axis_hand[i] = from_wxyz(env.wrist[i]).inv().apply(env.axis_world[i])
    quat = env.sens[:, env.layout.obj_quat]
    env.goal[:] = rotate_quat_about(quat, env.axis_hand, np.full(n, np.deg2rad(env.cfg.reward.goal_step_deg)))
    reversed_actions = (targets[:, -2::-1] - targets[:, :0:-1]) / env.cfg.action_scale     # (n, T, 16)
    held_back, rot_back = held.copy(), np.zeros(n)
    seen_obs, seen_act = [], []
    obs = venv.get_observations()
    for k in range(T):
        seen_obs.append(obs["policy"].numpy().copy())
        seen_act.append(reversed_actions[:, k])
        obs, _, done, _ = venv.step(torch.from_numpy(reversed_actions[:, k].astype(np.float32)))
        rot_back += held_back * dt * np.einsum("ni,ni->n", env_omega(env), env.axis_hand)
        held_back &= ~done.numpy()
    kept = held_back                                                     # held both ways
    x = np.stack(seen_obs, 1)[kept].reshape(-1, seen_obs[0].shape[1])
    y = np.stack(seen_act, 1)[kept].reshape(-1, 16).clip(-1, 1)

    # 3: behaviour cloning of a fresh actor of the variant's architecture
    bc_runner, _ = make_runner(dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, num_envs=4)))
    actor = bc_runner.alg.actor
    actor.train()
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
    for i in range(0, len(xt), 4096):
        actor.update_normalization(TensorDict({"policy": xt[i:i + 4096]}, batch_size=[len(xt[i:i + 4096])]))
    opt = torch.optim.Adam(actor.mlp.parameters(), lr=1e-3)
    losses = []
    rng = np.random.default_rng(0)
    for _ in range(args.bc_steps):
        idx = torch.from_numpy(rng.integers(0, len(xt), 4096))
        pred = actor(TensorDict({"policy": xt[idx]}, batch_size=[len(idx)]))
        loss = torch.nn.functional.mse_loss(pred, yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        actor.distribution.std_param.fill_(args.bc_std)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(bc_runner.alg.save(), args.out / "bc_init.pt")
    result = {
        "policy": args.policy, "envs": n, "steps_each_way": T,
        "forward_minus_z": {"held": float(held.mean()), "rotation_rad_mean": float(rot_fwd[held].mean()) if held.any() else 0.0},
        "reversed_plus_z": {"held_of_forward_held": float(kept.sum() / max(held.sum(), 1)),
                            "rotation_rad_mean": float(rot_back[kept].mean()) if kept.any() else 0.0,
                            "rotation_rad_all": float(rot_back[held].mean()) if held.any() else 0.0},
        "bc": {"samples": int(len(x)), "steps": args.bc_steps, "first_loss": losses[0],
               "final_loss": float(np.mean(losses[-50:])), "action_variance": float(y.var(0).mean())},
        "wall_s": time.monotonic() - t0, "budget_s": clock.tick(),
    }
    (args.out / "reverse_gait.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


def env_omega(env) -> np.ndarray:
    """Object angular velocity (world frame, hand-fixed mount) of every env after the last step."""
    return env.sens[:, env.layout.obj_angvel]


if __name__ == "__main__":
    raise SystemExit(main())
