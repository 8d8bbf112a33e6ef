"""Behaviour cloning: the generalist imitates the specialists' actions from proprioception only.

    dexndm-learn train-generalist --data data/rollouts/a data/rollouts/b --out runs/generalist \\
        [--width 1024] [--epochs 20]

Samples are (episode, step) pairs drawn from the memory-mapped shards; the observation is
rebuilt from stored joint positions and targets with the same joint-position noise the
specialists saw (U(-0.005, 0.005)). 10 % of the episodes are held out for validation; the best
checkpoint on validation loss is kept and exported as a deployable artifact (``policy.pt``).

With ``balance`` (the default) every (specialist, commanded axis) group is drawn equally often
(the specialist is the one named in each dataset's manifest, so a top-up collection of one sense
joins its specialist's group). A specialist keeps far more episodes in its easy sense than in its
hard one (specialist (a) keeps mostly -z episodes), and a palm-down specialist keeps far fewer
than a palm-up one; drawing episodes uniformly would teach the generalist little else than the
easiest condition.

``init`` continues from a policy artifact (weights and input normalization), as DAgger rounds do
(``collect-rollouts --student``).

``last.pt`` (weights, optimizer, schedule, random states, best so far) is replaced atomically after
every epoch; ``--resume`` continues a killed run from it (or starts one), refusing other options
than the run's, and draws the same batches an uninterrupted run would have (at most one epoch is lost).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from dexndm_learning import training_state
from dexndm_learning.config import add_field_options, from_dict, given_options, to_dict
from dexndm_learning.data.episode_bank import EpisodeBank
from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import PolicySpec, load_policy, save_policy
from dexndm_learning.policy.residual_mlp import ResidualMLP


@dataclass
class BCConfig:
    width: int = 1024
    blocks: int = 5
    epochs: int = 20
    batch_size: int = 1024
    lr: float = 3e-4
    weight_decay: float = 1e-5
    joint_noise: float = 0.005
    val_fraction: float = 0.1
    samples_per_epoch: int = 200_000
    history: int = contract.HISTORY
    action_scale: float = contract.ACTION_SCALE
    seed: int = 0
    balance: bool = True
    init: str | None = None          # a policy artifact to continue from (its weights and normalization)
    torch_threads: int = 2
    data: list[str] = field(default_factory=list)


def train(cfg: BCConfig, out: Path, resume: bool = False) -> dict:
    """``resume``: continue the run in ``out`` from its ``last.pt`` if it has one."""
    ckpt = None
    if resume and (out / "last.pt").exists():
        ckpt = training_state.load(out / "last.pt")
    elif not resume and (out / "last.pt").exists():
        raise FileExistsError(f"{out} already holds a run; pass --resume or choose another --out")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.torch_threads)
    rng = np.random.default_rng(cfg.seed)
    bank = EpisodeBank(cfg.data)
    perm = rng.permutation(bank.episodes)
    n_val = max(1, int(round(cfg.val_fraction * bank.episodes)))
    val_eps, train_eps = perm[:n_val], perm[n_val:]
    if len(train_eps) == 0:
        raise ValueError("need at least 2 episodes (one for validation)")

    weights = bank.group_weights() if cfg.balance else np.full(bank.episodes, 1.0 / bank.episodes)

    def sample(eps, n):
        e = rng.choice(eps, n, p=weights[eps] / weights[eps].sum())
        return bank.batch(e, bank.sample_steps(e, rng), rng, cfg.joint_noise, cfg.history)

    if cfg.init:
        start = load_policy(cfg.init)
        start.check_hand(bank.hand_version, cfg.init)
        net, mean, std = start.net.train(), start.spec.obs_mean, start.spec.obs_std
        cfg = dataclasses.replace(cfg, width=net.arch["width"], blocks=net.arch["blocks"])
    else:
        probe, _ = sample(train_eps, min(20_000, 50 * len(train_eps)))
        mean, std = probe.mean(0), probe.std(0) + 1e-3
        net = ResidualMLP(contract.obs_dim(cfg.history), 16, cfg.width, cfg.blocks)
    val_x, val_y = sample(val_eps, min(20_000, 400 * len(val_eps)))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    mean_t, std_t = torch.from_numpy(mean), torch.from_numpy(std)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bc_config.json").write_text(json.dumps(to_dict(cfg), indent=1))
    writer = SummaryWriter(str(out / "tb"))
    best = float("inf")
    spec = PolicySpec(cfg.history, mean, std, cfg.action_scale, hand_version=bank.hand_version)
    steps_per_epoch = max(1, cfg.samples_per_epoch // cfg.batch_size)
    history, start, best_state = [], 0, None
    if ckpt is not None:
        training_state.restore(ckpt, net, opt, sched, rng)
        start, best, history, best_state = ckpt["epoch"] + 1, ckpt["best"], ckpt["history"], ckpt["best_state"]
    for epoch in tqdm(range(start, cfg.epochs), desc="BC", unit="epoch", initial=start, total=cfg.epochs):
        net.train()
        losses = []
        for _ in range(steps_per_epoch):
            x, y = sample(train_eps, cfg.batch_size)
            pred = net((torch.from_numpy(x) - mean_t) / std_t)
            loss = torch.mean((pred - torch.from_numpy(y)) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()
        net.eval()
        with torch.inference_mode():
            val = float(torch.mean((net((torch.from_numpy(val_x) - mean_t) / std_t) - torch.from_numpy(val_y)) ** 2))
        writer.add_scalar("bc/train_loss", float(np.mean(losses)), epoch)
        writer.add_scalar("bc/val_loss", val, epoch)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val})
        if val < best:
            best = val
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            save_policy(out / "policy.pt", "base", net, spec)
        training_state.save_atomic(training_state.snapshot(net, opt, sched, rng, epoch=epoch, best=best, history=history,
                                                           best_state=best_state), out / "last.pt")
    writer.close()
    result = {"best_val_loss": best, "episodes": bank.episodes, "history": history}
    (out / "bc_result.json").write_text(json.dumps(result, indent=1))
    return {**result, "best_state": best_state, "obs_mean": mean, "obs_std": std}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train the generalist by behaviour cloning.")
    ap.add_argument("--data", nargs="+", required=True, help="rollout dataset folders")
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", action="store_true", help="continue the killed run in --out (its saved config)")
    fields = add_field_options(ap, BCConfig, exclude=("history", "action_scale"))   # --width, --balance false ...
    args = ap.parse_args(argv)
    cfg = from_dict(BCConfig, {**given_options(args, fields), "data": list(args.data)}, where="command line")
    if args.resume and (Path(args.out) / "bc_config.json").exists():
        saved = from_dict(BCConfig, json.loads((Path(args.out) / "bc_config.json").read_text()), where="bc_config.json")
        ignore = ("width", "blocks") if cfg.init else ()          # an init's architecture replaces the options'
        if {k: v for k, v in to_dict(saved).items() if k not in ignore} != {k: v for k, v in to_dict(cfg).items()
                                                                         if k not in ignore}:
            raise ValueError(f"{args.out} was trained with other settings ({Path(args.out) / 'bc_config.json'}); "
                             "--resume continues a run with the same options")
    result = train(cfg, Path(args.out), resume=args.resume)
    print({k: result[k] for k in ("best_val_loss", "episodes")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
