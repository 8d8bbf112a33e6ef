"""NDM training throughput: joint-wise (16 stacked nets) vs whole-hand at the same width.

Times full training steps (forward, loss, backward, fused AdamW step as in ``train``) at batch
1024 for the joint-wise and whole-hand models (width 256, 2 hidden layers, W = 10), reports
samples/s, the ratio of wall times next to the ratio of FLOPs, and the joint-wise model's
achieved FLOP/s as a fraction of a dense matmul (256-wide, same total FLOPs as one joint-wise
step) timed in the same process with the same threads, taking turns with the training steps.
One torch thread: the machine is shared, and the fraction is what matters.
Last line: ``ndm_roofline_fraction=<joint-wise FLOP/s / dense FLOP/s>``
(target >= 0.5).
"""
import time

import torch
import torch.nn.functional as F

from dexndm_learning.ndm.config import TrainConfig
from dexndm_learning.ndm.models import build_model
from dexndm_learning.ndm.train import make_optimizer

WIDTH, DEPTH, WINDOW, BATCH = 256, 2, 10, 1024
THREADS = 1


def train_flops_per_sample(model) -> int:
    """Forward 2 FLOPs per MAC; backward twice that, except the input layer's input gradient."""
    flops = 0
    for i, w in enumerate(model.net.weights):
        macs = w.shape[0] * w.shape[1] * w.shape[2]
        flops += 2 * macs * (3 if i else 2)
    return flops


def best_seconds_per_call(fns: dict, rounds: int = 8, calls: int = 3) -> dict:
    """Per function, the fastest of ``rounds`` blocks of ``calls`` calls; the functions take
    turns block by block, so load from other processes on this shared machine hits all alike."""
    for fn in fns.values():
        fn()                                    # warm-up
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / calls)
    return best


def train_step(kind: str):
    """A closure running one training step of a fresh ``kind`` model, and its FLOPs/sample."""
    torch.manual_seed(0)
    model = build_model(kind, WINDOW, WIDTH, DEPTH)
    opt = make_optimizer(model, TrainConfig())
    x = torch.randn(BATCH, WINDOW, 16, 2) * 0.1
    y = x[:, -1, :, 0] + torch.randn(BATCH, 16) * 0.01

    def step():
        loss = F.mse_loss(model.forward_normalized(x), model.normalized_target(x, y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, train_flops_per_sample(model)


def main() -> None:
    torch.set_num_threads(THREADS)
    joint_step, f_joint = train_step("joint")
    whole_step, f_whole = train_step("whole")
    step_flops = f_joint * BATCH
    a = torch.randn(round(step_flops / (2 * WIDTH * WIDTH)), WIDTH)
    b = torch.randn(WIDTH, WIDTH)
    dense_flops = 2 * a.shape[0] * WIDTH * WIDTH
    t = best_seconds_per_call({"joint": joint_step, "whole": whole_step,
                               "dense": lambda: torch.mm(a, b)})
    joint_rate, dense_rate = step_flops / t["joint"], dense_flops / t["dense"]
    print(f"torch {torch.__version__}, {THREADS} thread(s), batch {BATCH}, width {WIDTH}, depth {DEPTH}")
    print(f"joint-wise: {BATCH / t['joint']:9.0f} samples/s, {f_joint / 1e6:.2f} MFLOP/sample, "
          f"{joint_rate / 1e9:.1f} GFLOP/s")
    print(f"whole-hand: {BATCH / t['whole']:9.0f} samples/s, {f_whole / 1e6:.2f} MFLOP/sample, "
          f"{f_whole * BATCH / t['whole'] / 1e9:.1f} GFLOP/s")
    print(f"joint/whole: wall time ratio {t['joint'] / t['whole']:.2f}, FLOP ratio {f_joint / f_whole:.2f}")
    print(f"dense matmul ({a.shape[0]}x{WIDTH} @ {WIDTH}x{WIDTH}, same FLOPs): "
          f"{dense_rate / 1e9:.1f} GFLOP/s")
    print(f"ndm_roofline_fraction={joint_rate / dense_rate:.3f}")


if __name__ == "__main__":
    main()
