"""Train a neural dynamics model on control steps from an ``.npz`` or a directory of bags.

::

    python -m dexndm_learning.ndm.train --data <npz or bag dir> --kind joint|finger|whole \\
        --out runs/ndm/<name> [--config ndm] [--init ckpt] [--resume]

The run folder gets ``config.yaml`` (the resolved config), ``best.pt`` (the model with the
lowest eval loss so far; ``models.load_model`` reads it), ``last.pt`` (model, optimizer and
epoch, written atomically every epoch) and ``tb/`` (TensorBoard scalars:
train/loss, eval/loss, eval/mse_rad2, lr).

- Loss: MSE of the normalized change of q (see ``models``); ``eval/mse_rad2`` is the one-step
  error of q itself.
- ``--init ckpt`` fine-tunes: the architecture, weights and normalization come from the
  checkpoint (pretrained on sim, say) and all weights are trained on the new data.
- ``--resume`` continues the run in ``--out`` from ``last.pt`` with the config saved there;
  the split, the per-epoch shuffles and the learning rate (a function of the epoch) are
  determined by the config, so a resumed run does what an uninterrupted one would have
  (``--epochs`` may extend it).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from tqdm import tqdm

from dexndm_learning.training_state import save_atomic
from dexndm_learning.config import add_set_option, dotted_overrides, load_yaml, to_dict
from dexndm_learning.ndm.config import NdmConfig, TrainConfig
from dexndm_learning.ndm.dataset import load_steps, split_dataset
from dexndm_learning.ndm.evaluate import one_step_errors
from dexndm_learning.ndm.models import build_model, load_model, model_from_payload, model_payload, save_model
from dexndm_learning.ndm.steps import Steps, make_windows


def make_optimizer(model: torch.nn.Module, tc: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with the fused kernel (one pass over the weights; the per-tensor "foreach" kernel
    cost about 12 % of a joint-wise training step on CPU)."""
    return torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, fused=True)


def cosine_lr(tc: TrainConfig, epoch: int) -> float:
    """Learning rate of ``epoch``: cosine from ``lr`` at the first to ``lr_final`` at the last."""
    progress = epoch / max(tc.epochs - 1, 1)
    return tc.lr_final + 0.5 * (tc.lr - tc.lr_final) * (1 + math.cos(math.pi * progress))


def train(cfg: NdmConfig, steps: Steps, out: str | Path, init: str | Path | None = None,
          resume: bool = False, progress: bool = True) -> dict:
    """Train and return a summary (best eval loss and epoch, sizes)."""
    out = Path(out)
    last = out / "last.pt"
    if resume and not last.exists():
        raise FileNotFoundError(f"--resume: no {last}")
    if not resume and last.exists():
        raise FileExistsError(f"{out} already holds a run; pass --resume or choose another --out")
    if resume and init:
        raise ValueError("--resume and --init exclude each other")
    tc = cfg.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)

    ckpt = torch.load(last, map_location="cpu", weights_only=True) if resume else None
    if ckpt is not None:
        model = model_from_payload(ckpt["model"])
    elif init is not None:
        model = load_model(init)
        cfg = dataclasses.replace(cfg, model=model.config)
    else:
        model = build_model(**dataclasses.asdict(cfg.model))

    windows = make_windows(steps, cfg.model.window)
    train_set, eval_set = split_dataset(windows, tc.eval_fraction, tc.seed if tc.split_seed is None else tc.split_seed,
                                        tc.split_block)
    if ckpt is None and init is None:
        model.fit_normalization(train_set.windows, train_set.next_q)
    model.to(tc.device)
    train_set, eval_set = train_set.to(tc.device), eval_set.to(tc.device)

    opt = make_optimizer(model, tc)
    start, best, best_epoch = 0, math.inf, -1
    if ckpt is not None:
        opt.load_state_dict(ckpt["optimizer"])
        start, best, best_epoch = ckpt["epoch"] + 1, ckpt["best_eval"], ckpt["best_epoch"]

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(out / "tb")
    bar = tqdm(range(start, tc.epochs), initial=start, total=tc.epochs, disable=not progress,
               desc=f"ndm {cfg.model.kind}", unit="epoch")
    for epoch in bar:
        model.train()
        for group in opt.param_groups:
            group["lr"] = cosine_lr(tc, epoch)
        writer.add_scalar("lr", cosine_lr(tc, epoch), epoch)
        gen = torch.Generator().manual_seed(tc.seed * 1_000_003 + epoch)
        total = 0.0
        for x, y in train_set.batches(tc.batch_size, gen):
            loss = F.mse_loss(model.forward_normalized(x), model.normalized_target(x, y))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
        errors = one_step_errors(model, eval_set)
        train_loss, eval_loss = total / len(train_set), float(errors["normalized"].mean())
        eval_mse = float(errors["mse"].mean())
        writer.add_scalar("train/loss", train_loss, epoch)
        writer.add_scalar("eval/loss", eval_loss, epoch)
        writer.add_scalar("eval/mse_rad2", eval_mse, epoch)
        if eval_loss < best:
            best, best_epoch = eval_loss, epoch
            save_model(model, out / "best.pt")
        save_atomic({"model": model_payload(model), "optimizer": opt.state_dict(),
                      "epoch": epoch, "best_eval": best, "best_epoch": best_epoch}, last)
        bar.set_postfix(train=f"{train_loss:.3g}", eval=f"{eval_loss:.3g}", mse=f"{eval_mse:.2e}")
    writer.close()
    return {"best_eval_loss": best, "best_epoch": best_epoch, "epochs": tc.epochs,
            "train_transitions": len(train_set), "eval_transitions": len(eval_set)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Train a neural dynamics model (NDM).")
    p.add_argument("--data", required=True, type=Path, help=".npz of control steps or bag directory")
    p.add_argument("--out", required=True, type=Path, help="run folder, e.g. runs/ndm/<name>")
    p.add_argument("--kind", choices=["joint", "finger", "whole"], help="same as --set model.kind=KIND")
    p.add_argument("--config", default="ndm", help="config name in config/ or a YAML path")
    p.add_argument("--init", type=Path, help="checkpoint to fine-tune from")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--epochs", type=int, help="same as --set train.epochs=N")
    add_set_option(p)
    args = p.parse_args(argv)
    overrides = dotted_overrides(args.set)
    if args.epochs is not None:
        overrides.setdefault("train", {})["epochs"] = args.epochs

    if args.resume:
        cfg = load_yaml(NdmConfig, args.out / "config.yaml", overrides)
    else:
        if args.kind:
            overrides.setdefault("model", {})["kind"] = args.kind
        cfg = NdmConfig.load(args.config, overrides)
        if args.init and args.kind:
            kind = load_model(args.init).config.kind
            if kind != args.kind:
                p.error(f"--kind {args.kind} but --init checkpoint is a '{kind}' model")
    steps = load_steps(args.data, cfg.ingest)
    summary = train(cfg, steps, args.out, init=args.init, resume=args.resume)
    print(f"best eval loss {summary['best_eval_loss']:.4g} at epoch {summary['best_epoch']} "
          f"({summary['train_transitions']} train / {summary['eval_transitions']} eval transitions); "
          f"model: {args.out / 'best.pt'}")


if __name__ == "__main__":
    main()
