"""Train the residual policy through a frozen neural dynamics model (method.md section 9).

    python -m dexndm_learning.residual.train --data <rollout dir> [<rollout dir> ...] \\
        --ndm runs/ndm/<name>/best.pt --out runs/residual/<name> [--config residual] [--epochs N]

Data: the base policy's rollouts in nominal sim (``data.rollout_dataset``). At step t the base
policy saw o_t and commanded a_t = ``targets[t+1]``; the residual outputs
``a_res_t = RESIDUAL_CAP * tanh(net([o_t, a_t]))``. The frozen NDM of the target world (any kind)
gets the history ``{(q_j, commanded_target(a_j, a_res_j))}, j = t-W+1..t`` (``policy.contract``: the
rule the sim-to-sim evaluation and the policy node apply) and the loss compares its prediction
with the sim next state ``q[t+1]``: the residual learns the command change that makes the target
world follow the sim trajectory.
The residual's observation keeps the base targets, as at deployment.

Samples are chunks of ``chunk`` consecutive steps of one episode: the residual runs once per
step and every W-step window inside the chunk is one NDM prediction, so one residual evaluation
serves up to W predictions. Chunks tile each episode's predictable steps t = W-1..T-1 (the last
chunk of an episode may overlap its neighbour); steps with less than W steps of history are not
used, as in NDM training.

Loss (``loss: l1`` by default): the paper's objective is a norm of the state error, not its
square. The NDM is accurate on its data's distribution but not globally (paper B.4); where it is
far off (rare contact events, unusual commands) a squared loss's gradient grows with the error
and lets those few transitions set the residual, while L1 weighs every transition equally and
fits the typical (median) correction.

Robust options (issue 19), for an NDM ensemble (``residual.gate.NdmEnsemble``: the prediction is
the members' mean): ``disagreement_weight`` adds that weight times the members' mean spread (rad)
to the loss, so the residual is steered away from commands the model is unsure about (model
exploitation); a ``gate`` (``residual.gate.ResidualGate``) scales the residual per joint and step
as deployment will, computed without gradient from the ungated commands (steps before a chunk's
first full window take the first window's scale), and is saved inside the artifact. Checkpoints
are chosen on the validation objective (loss plus the spread term).

``last.pt`` (weights, optimizer, schedule, random state, best so far) is replaced atomically after
every epoch; ``resume`` (``--resume``) continues a killed run from it with the same batches.

The output layer starts at zero, so training starts from direct transfer (no correction). The
run folder gets ``residual.pt`` (artifact of the best validation loss, ``policy.artifact``),
``residual_config.json``, ``residual_result.json`` (losses, including the zero-residual
baseline), ``residual_magnitude.json`` (per-joint mean |a_res| on validation, our and Isaac
order) and ``tb/``.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dexndm_learning import joint_order, training_state
from dexndm_learning.data.episode_bank import EpisodeBank
from dexndm_learning.config import add_set_option, dotted_overrides, load_yaml, resolve_config, to_dict
from dexndm_learning.policy import contract
from dexndm_learning.policy.contract import proprio_at_steps as proprio_obs
from dexndm_learning.ndm.models import load_model
from dexndm_learning.policy.artifact import PolicySpec, save_policy
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.residual.gate import NdmEnsemble, ResidualGate


@dataclass
class ResidualConfig:
    width: int = 256
    blocks: int = 2
    loss: str = "l1"
    epochs: int = 1
    chunk: int = 32
    batch_chunks: int = 64
    lr: float = 3e-4
    weight_decay: float = 0.0
    joint_noise: float = 0.005
    val_fraction: float = 0.1
    evals_per_epoch: int = 5
    history: int = contract.HISTORY
    action_scale: float = contract.ACTION_SCALE
    seed: int = 0
    disagreement_weight: float = 0.0   # x mean ensemble spread (rad) added to the loss; needs an ensemble
    torch_threads: int = 2
    data: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, name_or_path: str | Path = "residual", overrides: dict | None = None) -> "ResidualConfig":
        return load_yaml(cls, resolve_config(name_or_path), overrides)


LOSSES = {"l1": lambda err: err.abs().mean(), "mse": lambda err: err.pow(2).mean()}


def chunk_starts(steps: int, window: int, chunk: int) -> np.ndarray:
    """First steps of the chunks whose windows predict every step t = window-1..steps-1 once
    (the last chunk may overlap the one before)."""
    if not window <= chunk <= steps:
        raise ValueError(f"need window ({window}) <= chunk ({chunk}) <= episode steps ({steps})")
    starts = list(range(0, steps - chunk + 1, chunk - window + 1))
    if starts[-1] + chunk < steps:
        starts.append(steps - chunk)
    return np.array(starts)


def episode_chunks(episodes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(n, 2) rows (episode, start step) of every chunk of ``episodes``."""
    return np.stack(np.meshgrid(episodes, starts, indexing="ij"), -1).reshape(-1, 2)


@dataclass
class ChunkBatch:
    obs: torch.Tensor      # (B, L, obs) residual input: base observation o_j, base target a_j
    q: torch.Tensor        # (B, L, 16) sim joint positions q_j
    base: torch.Tensor     # (B, L, 16) base targets a_j
    next_q: torch.Tensor   # (B, L-W+1, 16) sim q_{t+1} for t = start+W-1 .. start+L-1


def chunk_batch(bank: EpisodeBank, chunks: np.ndarray, cfg: ResidualConfig, window: int,
                rng: np.random.Generator) -> ChunkBatch:
    d = bank.data
    episodes, j = chunks[:, 0], chunks[:, 1:2] + np.arange(cfg.chunk)    # j: (B, L) step indices
    rows = np.arange(len(chunks))[:, None]
    q, targets = d["q"][episodes], d["targets"][episodes]
    seen_q = q + rng.uniform(-cfg.joint_noise, cfg.joint_noise, q.shape) if cfg.joint_noise else q
    base = targets[rows, j + 1]
    obs = proprio_obs(seen_q, targets, d["wrist"][episodes], d["axis"][episodes], j, cfg.history)
    t = torch.from_numpy
    return ChunkBatch(t(np.concatenate([obs, base], -1).astype(np.float32)),
                      t(q[rows, j].astype(np.float32)), t(base.astype(np.float32)),
                      t(q[rows, j[:, window - 1:] + 1].astype(np.float32)))


class BoundedResidual(nn.Module):
    """What the deployed artifact computes: ``RESIDUAL_CAP * tanh(net((x - mean) / std))``."""

    def __init__(self, net: ResidualMLP, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.bound = contract.RESIDUAL_CAP

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bound * torch.tanh(self.net((x - self.mean) / self.std))


def ndm_windows(q: torch.Tensor, commands: torch.Tensor, window: int) -> torch.Tensor:
    """(B, L, 16) positions and commands -> (B * (L-W+1), W, 16, 2) NDM inputs, one per window."""
    x = torch.stack([q, commands], -1).unfold(1, window, 1)          # (B, L-W+1, 16, 2, W)
    return x.permute(0, 1, 4, 2, 3).reshape(-1, window, joint_order.NUM_JOINTS, 2)


def predict(ndm: nn.Module, window: int, b: ChunkBatch, res: torch.Tensor | None, gate: ResidualGate | None = None
            ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """NDM(history with a + a_res) - sim next q (N, 16), the ensemble's spread (N, 16; None for
    one model) and the residual actually applied (B, L, 16; the gate's scale times ``res``).
    ``res`` None = no residual."""
    if res is None:
        commands = b.base
    else:
        if gate is not None:
            with torch.no_grad():
                s = gate.scale(ndm_windows(b.q, contract.commanded_target(b.base, res), window))
                s = s.reshape(res.shape[0], -1, joint_order.NUM_JOINTS)
                s = torch.cat([s[:, :1].expand(-1, window - 1, -1), s], 1)
            res = res * s
        commands = contract.commanded_target(b.base, res)
    x = ndm_windows(b.q, commands, window)
    mean, spread = ndm.mean_and_spread(x) if isinstance(ndm, NdmEnsemble) else (ndm(x), None)
    return mean - b.next_q.reshape(-1, joint_order.NUM_JOINTS), spread, res


def objective(cfg: ResidualConfig, err: torch.Tensor, spread: torch.Tensor | None) -> torch.Tensor:
    loss = LOSSES[cfg.loss](err)
    return loss if spread is None or not cfg.disagreement_weight else loss + cfg.disagreement_weight * spread.mean()


@torch.no_grad()
def validate(policy: BoundedResidual | None, ndm: nn.Module, window: int, bank: EpisodeBank, chunks: np.ndarray,
             cfg: ResidualConfig, gate: ResidualGate | None = None) -> dict:
    """Loss, objective, mean ensemble spread and per-joint mean |a_res| (MJ order, after the
    gate) over the steps of ``chunks`` (``policy`` None: no residual, i.e. direct transfer); the
    observation noise is seeded so every validation sees the same inputs."""
    rng = np.random.default_rng(cfg.seed + 1)
    loss = obj = spread_sum = 0.0
    abs_res = torch.zeros(joint_order.NUM_JOINTS, dtype=torch.float64)
    n_pred = n_res = 0
    for i in range(0, len(chunks), cfg.batch_chunks):
        b = chunk_batch(bank, chunks[i:i + cfg.batch_chunks], cfg, window, rng)
        err, spread, res = predict(ndm, window, b, None if policy is None else policy(b.obs), gate)
        loss += LOSSES[cfg.loss](err).item() * len(err)
        obj += objective(cfg, err, spread).item() * len(err)
        spread_sum += 0.0 if spread is None else spread.mean().item() * len(err)
        n_pred, n_res = n_pred + len(err), n_res + b.base.shape[0] * b.base.shape[1]
        if res is not None:
            abs_res += res.abs().reshape(-1, joint_order.NUM_JOINTS).double().sum(0)
    return {"loss": loss / n_pred, "objective": obj / n_pred, "spread": spread_sum / n_pred,
            "mean_abs_residual": (abs_res / n_res).numpy()}


def magnitude_report(mean_abs_mj: np.ndarray) -> dict:
    """Per-joint mean |a_res| (rad) listed in our (MJ) order and in Isaac Gym order (Table 8)."""
    out = {}
    for order in (joint_order.Order.MJ, joint_order.Order.ISAAC):
        values = joint_order.convert(mean_abs_mj, joint_order.Order.MJ, order)
        out[order.value] = {"joints": list(joint_order.names(order)),
                            "mean_abs_residual_rad": [float(v) for v in values]}
    return out


def split_episodes(n: int, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    perm = rng.permutation(n)
    n_val = max(1, int(round(val_fraction * n)))
    if n - n_val < 1:
        raise ValueError("need at least 2 episodes (one for validation)")
    return perm[n_val:], perm[:n_val]


def train(cfg: ResidualConfig, ndm: nn.Module, window: int, out: Path, progress: bool = True,
          gate: ResidualGate | None = None, resume: bool = False) -> dict:
    """Train on the episodes of ``cfg.data`` through the frozen ``ndm`` (input window ``window``;
    an ``NdmEnsemble`` for ``disagreement_weight``), with the residual scaled by ``gate`` if given."""
    if cfg.loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {cfg.loss!r}")
    if cfg.disagreement_weight and not (isinstance(ndm, NdmEnsemble) and len(ndm.members) > 1):
        raise ValueError("disagreement_weight needs an NDM ensemble of at least 2 members")
    ckpt = None
    if resume and (out / "last.pt").exists():
        ckpt = training_state.load(out / "last.pt")
        if ckpt["config"] != to_dict(cfg):
            raise ValueError(f"{out} holds a residual run with other settings; choose another --out")
    elif not resume and (out / "last.pt").exists():
        raise FileExistsError(f"{out} already holds a residual run; pass --resume or choose another --out")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.torch_threads)
    rng = np.random.default_rng(cfg.seed)
    ndm = ndm.eval().requires_grad_(False)
    bank = EpisodeBank(cfg.data, purpose="residual training")
    train_eps, val_eps = split_episodes(bank.episodes, cfg.val_fraction, rng)
    starts = chunk_starts(bank.steps, window, cfg.chunk)
    train_chunks, val_chunks = episode_chunks(train_eps, starts), episode_chunks(val_eps, starts)

    probe = chunk_batch(bank, train_chunks[rng.choice(len(train_chunks), min(256, len(train_chunks)), replace=False)],
                        cfg, window, rng).obs.flatten(0, 1)
    mean, std = probe.mean(0).numpy(), probe.std(0).numpy() + 1e-3
    net = ResidualMLP(probe.shape[1], joint_order.NUM_JOINTS, cfg.width, cfg.blocks)
    nn.init.zeros_(net.out.weight)
    nn.init.zeros_(net.out.bias)
    policy = BoundedResidual(net, mean, std)
    spec = PolicySpec(cfg.history, mean, std, cfg.action_scale, residual_bound=contract.RESIDUAL_CAP,
                      hand_version=bank.hand_version)

    steps_per_epoch = math.ceil(len(train_chunks) / cfg.batch_chunks)
    total = cfg.epochs * steps_per_epoch
    eval_every = max(1, steps_per_epoch // max(1, cfg.evals_per_epoch))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    out.mkdir(parents=True, exist_ok=True)
    (out / "residual_config.json").write_text(json.dumps(to_dict(cfg), indent=1))
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out / "tb"))
    zero = validate(None, ndm, window, bank, val_chunks, cfg)
    zero_loss = zero["loss"]
    best, best_state, best_val, history = math.inf, None, None, []
    step, first_epoch = 0, 0
    if ckpt is not None:
        training_state.restore(ckpt, net, opt, sched, rng)
        best, best_state, best_val, history = ckpt["best"], ckpt["best_state"], ckpt["best_val"], ckpt["history"]
        step, first_epoch = ckpt["step"], ckpt["epoch"] + 1
    bar = tqdm(total=total, initial=step, desc="residual", unit="step", disable=not progress)
    for epoch in range(first_epoch, cfg.epochs):
        order = rng.permutation(len(train_chunks))
        for i in range(0, len(order), cfg.batch_chunks):
            b = chunk_batch(bank, train_chunks[order[i:i + cfg.batch_chunks]], cfg, window, rng)
            err, spread, _ = predict(ndm, window, b, policy(b.obs), gate)
            loss = objective(cfg, err, spread)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            writer.add_scalar("residual/train_loss", loss.item(), step)
            bar.update()
            if step % eval_every and step != total:
                continue
            val = validate(policy, ndm, window, bank, val_chunks, cfg, gate)
            writer.add_scalar("residual/val_loss", val["loss"], step)
            writer.add_scalar("residual/val_spread", val["spread"], step)
            writer.add_scalar("residual/val_zero_residual_loss", zero_loss, step)
            writer.add_scalar("residual/val_mean_abs_residual", float(val["mean_abs_residual"].mean()), step)
            history.append({"step": step, "train_loss": loss.item(), "val_loss": val["loss"],
                            "val_objective": val["objective"], "val_spread": val["spread"]})
            bar.set_postfix(val=f"{val['loss']:.3g}", zero=f"{zero_loss:.3g}")
            if val["objective"] < best:
                best, best_val = val["objective"], val
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                save_policy(out / "residual.pt", "residual", net, spec, gate)
        training_state.save_atomic(training_state.snapshot(
            net, opt, sched, rng, config=to_dict(cfg), best=best, best_state=best_state, best_val=best_val,
            history=history, step=step, epoch=epoch), out / "last.pt")
    bar.close()
    writer.close()
    magnitude = magnitude_report(best_val["mean_abs_residual"])
    (out / "residual_magnitude.json").write_text(json.dumps(magnitude, indent=1))
    result = {"best_val_loss": best_val["loss"], "zero_residual_val_loss": zero_loss,
              "best_val_objective": best, "best_val_spread": best_val["spread"], "zero_residual_val_spread": zero["spread"],
              "gate": None if gate is None else {"quantile": gate.quantile, "sigma_ref": gate.sigma_ref.tolist()},
              "members": len(ndm.members) if isinstance(ndm, NdmEnsemble) else 1,
              "loss": cfg.loss, "window": window, "train_episodes": len(train_eps), "val_episodes": len(val_eps),
              "history": history}
    (out / "residual_result.json").write_text(json.dumps(result, indent=1))
    return {**result, "magnitude": magnitude, "best_state": best_state, "obs_mean": mean, "obs_std": std}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train a residual policy through a frozen NDM.")
    ap.add_argument("--data", nargs="+", required=True, help="rollout datasets of the base policy (nominal sim)")
    ap.add_argument("--ndm", required=True, type=Path, help="NDM checkpoint of the target world (any kind)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--config", default="residual", help="config name in config/ or a YAML path")
    ap.add_argument("--epochs", type=int, help="same as --set epochs=N")
    ap.add_argument("--resume", action="store_true", help="continue the killed run in --out")
    add_set_option(ap)
    args = ap.parse_args(argv)
    overrides = {**dotted_overrides(args.set), "data": list(args.data)}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    cfg = ResidualConfig.load(args.config, overrides)
    ndm = load_model(args.ndm)
    result = train(cfg, ndm, ndm.config.window, args.out, resume=args.resume)
    print(f"best val loss {result['best_val_loss']:.4g} (no residual: {result['zero_residual_val_loss']:.4g}); "
          f"artifact: {args.out / 'residual.pt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
