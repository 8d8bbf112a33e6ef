"""NDM training throughput: joint-wise (16 stacked nets) vs whole-hand at the same width.

Times full training steps (forward, loss, backward, AdamW step) at batch 1024 for the
joint-wise and whole-hand models (width 256, 2 hidden layers, W = 10), reports samples/s, the
ratio of wall times next to the ratio of FLOPs, and the joint-wise model's achieved FLOP/s as a
fraction of a dense matmul (256-wide, same total FLOPs as one joint-wise step) timed in the same
process with the same threads. One torch thread: the machine is shared, and the fraction is
what matters. Last line: ``ndm_roofline_fraction=<joint-wise FLOP/s / dense FLOP/s>``
(target >= 0.5).
"""
import time

import torch
import torch.nn.functional as F

from dexndm_learning.ndm.models import build_model

WIDTH, DEPTH, WINDOW, BATCH = 256, 2, 10, 1024
THREADS = 1


def train_flops_per_sample(model) -> int:
    """Forward 2 FLOPs per MAC; backward twice that, except the input layer's input gradient."""
    flops = 0
    for i, w in enumerate(model.net.weights):
        macs = w.shape[0] * w.shape[1] * w.shape[2]
        flops += 2 * macs * (3 if i else 2)
    return flops


def seconds_per_call(fn, min_time: float = 3.0, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_time:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


def train_step_time(kind: str) -> tuple[float, int]:
    torch.manual_seed(0)
    model = build_model(kind, WINDOW, WIDTH, DEPTH)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(BATCH, WINDOW, 16, 2) * 0.1
    y = x[:, -1, :, 0] + torch.randn(BATCH, 16) * 0.01

    def step():
        loss = F.mse_loss(model.forward_normalized(x), model.normalized_target(x, y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return seconds_per_call(step), train_flops_per_sample(model)


def main() -> None:
    torch.set_num_threads(THREADS)
    t_joint, f_joint = train_step_time("joint")
    t_whole, f_whole = train_step_time("whole")
    step_flops = f_joint * BATCH
    a = torch.randn(round(step_flops / (2 * WIDTH * WIDTH)), WIDTH)
    b = torch.randn(WIDTH, WIDTH)
    t_dense = seconds_per_call(lambda: torch.mm(a, b))
    dense_flops = 2 * a.shape[0] * WIDTH * WIDTH
    joint_rate, dense_rate = step_flops / t_joint, dense_flops / t_dense
    print(f"torch {torch.__version__}, {THREADS} thread(s), batch {BATCH}, width {WIDTH}, depth {DEPTH}")
    print(f"joint-wise: {BATCH / t_joint:9.0f} samples/s, {f_joint / 1e6:.2f} MFLOP/sample, "
          f"{joint_rate / 1e9:.1f} GFLOP/s")
    print(f"whole-hand: {BATCH / t_whole:9.0f} samples/s, {f_whole / 1e6:.2f} MFLOP/sample, "
          f"{f_whole * BATCH / t_whole / 1e9:.1f} GFLOP/s")
    print(f"joint/whole: wall time ratio {t_joint / t_whole:.2f}, FLOP ratio {f_joint / f_whole:.2f}")
    print(f"dense matmul ({a.shape[0]}x{WIDTH} @ {WIDTH}x{WIDTH}, same FLOPs): {dense_rate / 1e9:.1f} GFLOP/s")
    print(f"ndm_roofline_fraction={joint_rate / dense_rate:.3f}")


if __name__ == "__main__":
    main()
