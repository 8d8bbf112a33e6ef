"""Evaluate a neural dynamics model: one-step and open-loop multi-step prediction errors, plots.

One-step: per-joint mean squared error (rad^2) of the predicted next q over all transitions.
Open loop: from every start where a whole rollout fits inside one segment, the model is given
the true first W steps, then fed its own predictions as q (with the true commanded targets as
a) for H steps; the per-joint MSE of the prediction at horizons 1, 5, 10, 20 and 40 steps.

CLI::

    python -m dexndm_learning.ndm.evaluate --model runs/ndm/x/best.pt --data <npz|bag dir> \\
        --out runs/ndm/x/eval
writes ``metrics.yaml``, ``joint_errors.png`` (per-joint error bars) and ``rollout.png``
(predicted vs true joint trajectories of one rollout).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import yaml

from dexndm_learning.policy.contract import CONTROL_DT
from dexndm_learning.joint_order import JOINT_NAMES, NUM_JOINTS
from dexndm_learning.ndm.config import NdmConfig
from dexndm_learning.ndm.dataset import TransitionDataset, load_steps
from dexndm_learning.ndm.models import NDM, load_model
from dexndm_learning.ndm.steps import Steps, make_windows

HORIZONS = (1, 5, 10, 20, 40)


@torch.no_grad()
def one_step_errors(model: NDM, data: TransitionDataset, batch_size: int = 8192) -> dict:
    """Per-joint one-step errors: ``mse`` (rad^2) and ``normalized`` (the training loss)."""
    model.eval()
    device = model.delta_std.device
    sq = torch.zeros(NUM_JOINTS, dtype=torch.float64, device=device)
    sq_norm = torch.zeros_like(sq)
    for x, y in data.batches(batch_size):
        x, y = x.to(device), y.to(device)
        out = model.forward_normalized(x)
        pred = x[:, -1, :, 0] + model.delta_mean + model.delta_std * out
        sq += ((pred - y).double() ** 2).sum(0)
        sq_norm += ((out - model.normalized_target(x, y)).double() ** 2).sum(0)
    n = max(len(data), 1)
    return {"mse": (sq / n).cpu().numpy(), "normalized": (sq_norm / n).cpu().numpy()}


def rollout_starts(steps: Steps, window: int, horizon: int) -> np.ndarray:
    """Start steps s with steps s .. s+window+horizon-1 all in s's segment run."""
    s = np.arange(len(steps) - window - horizon + 1)
    if s.size == 0:
        return s
    last = s + window + horizon - 1
    return s[steps.run_starts()[last] <= s]


@torch.no_grad()
def rollout(model: NDM, steps: Steps, starts: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Open-loop predictions (len(starts), horizon, 16) and the true q at the same steps."""
    model.eval()
    device = model.delta_std.device
    w = model.config.window
    q = torch.as_tensor(steps.q, device=device)
    a = torch.as_tensor(steps.a, device=device)
    idx = torch.as_tensor(starts, device=device)[:, None] + torch.arange(w, device=device)
    hist = torch.stack([q[idx], a[idx]], dim=-1)                 # (S, W, 16, 2)
    preds = []
    for h in range(horizon):
        q_next = model(hist)
        preds.append(q_next)
        a_next = a[idx[:, -1] + h + 1]      # the true target commanded at the predicted step
        hist = torch.cat([hist[:, 1:], torch.stack([q_next, a_next], -1)[:, None]], dim=1)
    truth = q[idx[:, -1:] + torch.arange(1, horizon + 1, device=device)]
    return torch.stack(preds, 1).cpu().numpy(), truth.cpu().numpy()


def rollout_errors(model: NDM, steps: Steps, horizons=HORIZONS, max_starts: int = 4096,
                   seed: int = 0) -> dict[int, np.ndarray]:
    """Per-joint open-loop MSE (rad^2) at each horizon, over up to ``max_starts`` starts."""
    starts = rollout_starts(steps, model.config.window, max(horizons))
    if starts.size == 0:
        return {}
    if starts.size > max_starts:
        starts = np.sort(np.random.default_rng(seed).choice(starts, max_starts, replace=False))
    pred, truth = rollout(model, steps, starts, max(horizons))
    sq = (pred - truth) ** 2
    return {h: sq[:, h - 1].mean(0) for h in horizons}


def plot_joint_errors(one_step_mse: np.ndarray, rollout_mse: dict[int, np.ndarray], path: Path) -> None:
    """Per-joint bars: one-step MSE and the open-loop MSE at each horizon (log scale)."""
    import matplotlib.pyplot as plt

    series = {"1 step": one_step_mse} | {f"open loop {h}" : v for h, v in rollout_mse.items() if h > 1}
    fig, ax = plt.subplots(figsize=(14, 5))
    width = 0.8 / len(series)
    x = np.arange(NUM_JOINTS)
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, JOINT_NAMES, rotation=45)
    ax.set_yscale("log")
    ax.set_ylabel("MSE (rad$^2$)")
    ax.legend(ncol=len(series), fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_rollout(pred: np.ndarray, truth: np.ndarray, targets: np.ndarray, path: Path,
                 control_period: float) -> None:
    """One open-loop rollout: predicted and true q and the commanded a of every joint."""
    import matplotlib.pyplot as plt

    t = np.arange(1, len(pred) + 1) * control_period
    fig, axes = plt.subplots(4, 4, figsize=(16, 11), sharex=True)
    for j, ax in enumerate(axes.flat):
        ax.plot(t, truth[:, j], "k-", label="true q")
        ax.plot(t, pred[:, j], "r--", label="predicted q")
        ax.plot(t, targets[:, j], color="0.6", lw=0.8, label="target a (step before)")
        ax.set_title(JOINT_NAMES[j], fontsize=9)
    axes[0, 0].legend(fontsize="small")
    for ax in axes[-1]:
        ax.set_xlabel("time after history (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate(model: NDM, steps: Steps, out: Path, control_period: float = CONTROL_DT) -> dict:
    """All metrics and plots for ``model`` on ``steps``; returns the metrics (also in metrics.yaml)."""
    out.mkdir(parents=True, exist_ok=True)
    w = make_windows(steps, model.config.window)
    one = one_step_errors(model, TransitionDataset(w.windows, w.next_q))
    roll = rollout_errors(model, steps)
    metrics = {
        "transitions": int(len(w.next_q)),
        "one_step_mse": float(one["mse"].mean()),
        "one_step_mse_per_joint": dict(zip(JOINT_NAMES, map(float, one["mse"]))),
        "rollout_mse": {h: float(v.mean()) for h, v in roll.items()},
        "rollout_mse_per_joint": {h: dict(zip(JOINT_NAMES, map(float, v))) for h, v in roll.items()},
    }
    (out / "metrics.yaml").write_text(yaml.safe_dump(metrics, sort_keys=False))
    plot_joint_errors(one["mse"], roll, out / "joint_errors.png")
    starts = rollout_starts(steps, model.config.window, max(HORIZONS))
    if starts.size:
        s = starts[len(starts) // 2: len(starts) // 2 + 1]
        pred, truth = rollout(model, steps, s, max(HORIZONS))
        first = s[0] + model.config.window
        plot_rollout(pred[0], truth[0], steps.a[first - 1:first - 1 + max(HORIZONS)],
                     out / "rollout.png", control_period)
    return metrics


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, type=Path, help="best.pt / last.pt / saved model")
    p.add_argument("--data", required=True, type=Path, help=".npz of control steps or bag directory")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", default="ndm", help="config name or path (its ingest: section is used)")
    args = p.parse_args(argv)
    ingest = NdmConfig.load(args.config).ingest
    steps = load_steps(args.data, ingest)
    metrics = evaluate(load_model(args.model), steps, args.out, ingest.control_period)
    print(f"one-step MSE {metrics['one_step_mse']:.3e} rad^2 over {metrics['transitions']} transitions")
    for h, v in metrics["rollout_mse"].items():
        print(f"open-loop MSE at {h:>2} steps: {v:.3e} rad^2")
    print(f"wrote {args.out}/metrics.yaml, joint_errors.png, rollout.png")


if __name__ == "__main__":
    main()
