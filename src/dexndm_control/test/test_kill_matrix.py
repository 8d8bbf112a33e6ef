"""Kill -9 anywhere (issue 22): every long command, killed at a seeded random point in a subprocess
and run again the same way, completes; what the kill left on disk is readable by the next step
(no half-written file is ever read); the resumed training ends where an uninterrupted one does.

CI runs one kill point per command; ``-m killmatrix`` runs ``FULL_POINTS`` per command. A kill
point is a share of the command's own progress (checkpoints written, episodes kept, phases
finished) plus a delay into the next interval, drawn from ``SEED`` and the command's name, so a
failure names a point that can be rerun; a kill on wall time alone would mostly land in the Python
start-up. The Chaos Box collection has its own kill test (``test_chaos_box_collection``: resumed
without duplicates or gaps).
"""
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from dexndm_control.testing.policies import random_policy
from dexndm_learning import joint_order
from dexndm_learning.data.rollout_dataset import RolloutDataset, RolloutWriter
from dexndm_learning.ndm.models import load_model
from dexndm_learning.ndm.synthetic import linear_steps
from dexndm_learning.policy.artifact import load_policy

SEED = 20261203
FULL_POINTS = 3
REPO = Path(__file__).resolve().parents[3]
T, EPISODES = 40, 24


@dataclass
class Case:
    name: str
    argv: Callable[[Path], list[str]]             # the command for an output folder
    resume: list[str]                             # what the command takes to continue (or nothing)
    intact: Callable[[Path], None]                # raises unless what a kill left is readable by the next step
    result: Callable[[Path], object]              # the finished run's result, compared with the reference
    progress: Callable[[Path], float]             # 0..1 of the run done, from what it wrote
    exact: bool = True                            # resumed result equals the uninterrupted one
    setup: Callable[[Path], None] = field(default=lambda root: None)


def write_rollouts(root: Path) -> None:
    rng = np.random.default_rng(0)
    mid = (joint_order.LOWER + joint_order.UPPER) / 2
    writer = RolloutWriter(root, steps=T, shard_episodes=8, meta={"specialist": "synthetic"})
    for _ in range(EPISODES):
        targets = mid + 0.2 * np.sin(0.05 * np.arange(T + 1)[:, None] + rng.uniform(0, 6, 16))
        q = targets + 0.01 * rng.normal(size=targets.shape)
        writer.add(q=q, targets=targets, actions=24 * np.diff(targets, axis=0), obj_pos=np.zeros((T + 1, 3)),
                   obj_quat=np.tile([1.0, 0, 0, 0], (T + 1, 1)), axis=[0, 0, 1.0], wrist=[1.0, 0, 0, 0], object_id=0)
    writer.close()


def _learn(*args) -> list[str]:
    return [sys.executable, "-m", "dexndm_learning.cli", *args]


def _loads(*paths: Path) -> None:
    """Every file there loads (a half-written one would raise)."""
    for p in paths:
        if p.exists():
            torch.load(p, map_location="cpu", weights_only=False)


def _rollouts_intact(out: Path) -> None:
    """The listed shards are complete: the dataset opens and every episode reads back."""
    if (out / "manifest.json").exists():
        ds = RolloutDataset.open(out)
        assert sum(len(s["q"]) for s in ds.iter_shards(("q",))) == ds.episodes


def _policy_intact(out: Path, name: str) -> None:
    _loads(out / "last.pt")
    if (out / name).exists():
        load_policy(out / name)


def _sim2sim_intact(out: Path) -> None:
    _loads(*out.rglob("*.pt"))
    for p in out.rglob("*.json"):
        json.loads(p.read_text())


def _weights(path: Path) -> dict:
    return {k: v for k, v in torch.load(path, map_location="cpu", weights_only=False)["state_dict"].items()}


def _epochs_done(out: Path, epochs: int) -> float:
    try:
        return (torch.load(out / "last.pt", map_location="cpu", weights_only=False)["epoch"] + 1) / epochs
    except (FileNotFoundError, RuntimeError, EOFError):
        return 0.0


def _episodes_done(out: Path, episodes: int) -> float:
    try:
        return RolloutDataset.open(out).episodes / episodes
    except (FileNotFoundError, ValueError, KeyError, json.JSONDecodeError):
        return 0.0


def _phases_done(out: Path) -> float:
    """Finished sim2sim phases: the 12 marker files a tiny run with one wrist writes (rollouts,
    bags, 2 NDMs, 2 residuals, 2 object sets x 3 variants evaluated)."""
    marks = [out / "rollouts" / "done.json", *(out / "bags").glob("*/progress.json"),
             *(out / d / "done.json" for d in ("ndm_joint", "ndm_whole")),
             *(out / d / "residual_result.json" for d in ("residual_joint", "residual_whole")), *(out / "eval").glob("*.json")]
    return sum(p.exists() for p in marks) / 12


def _ndm_setup(root: Path) -> None:
    linear_steps(6, 400).save(root / "steps.npz")


def _data_setup(root: Path) -> None:
    write_rollouts(root / "data")
    _ndm_setup(root)
    subprocess.run(_learn("train-ndm", "--data", str(root / "steps.npz"), "--kind", "joint", "--out", str(root / "ndm"),
                          "--epochs", "1", "--set", "model.width=16", "model.window=4", "train.threads=1"),
                   check=True, capture_output=True)


CASES = [
    Case("train-ndm",
         lambda out: _learn("train-ndm", "--data", str(out.parent / "steps.npz"), "--kind", "joint", "--out", str(out),
                            "--epochs", "30", "--set", "model.width=32", "train.threads=1"),
         ["--resume"],
         lambda out: _loads(out / "last.pt", out / "best.pt"),
         lambda out: load_model(out / "best.pt").state_dict(), lambda out: _epochs_done(out, 30), setup=_ndm_setup),
    Case("train-generalist",
         lambda out: _learn("train-generalist", "--data", str(out.parent / "data"), "--out", str(out), "--epochs", "12",
                            "--width", "64", "--blocks", "1", "--samples-per-epoch", "20000", "--torch-threads", "1"),
         ["--resume"],
         lambda out: _policy_intact(out, "policy.pt"),
         lambda out: _weights(out / "policy.pt"), lambda out: _epochs_done(out, 12), setup=_data_setup),
    Case("train-residual",
         lambda out: _learn("train-residual", "--data", str(out.parent / "data"), "--ndm", str(out.parent / "ndm" / "best.pt"),
                            "--out", str(out), "--epochs", "30", "--set", "width=32", "chunk=16", "batch_chunks=8",
                            "torch_threads=1"),
         ["--resume"],
         lambda out: _policy_intact(out, "residual.pt"),
         lambda out: _weights(out / "residual.pt"), lambda out: _epochs_done(out, 30), setup=_data_setup),
    Case("collect-rollouts",
         lambda out: _learn("collect-rollouts", "--run", str(REPO / "models" / "specialists" / "cyl_palm_up"),
                            "--out", str(out), "--episodes", "24", "--num-envs", "8"),
         ["--resume"],
         _rollouts_intact,
         lambda out: RolloutDataset.open(out).episodes >= 24, lambda out: _episodes_done(out, 24), exact=False),
    Case("sim2sim (every phase)",
         lambda out: [sys.executable, "-m", "dexndm_control.cli", "sim2sim", "--profile", "worn_hand", "--out", str(out),
                      "--preset", "tiny", "--base", str(out.parent / "base.pt")],
         [],
         _sim2sim_intact,
         lambda out: sorted(json.loads((out / "sim2sim.json").read_text())["normal_cylinders"]), _phases_done,
         exact=False,
         setup=lambda root: random_policy(root / "base.pt", "base")),
]


def kill_points(name: str, n: int) -> list[tuple[float, float]]:
    """(share of the progress reached, then seconds more) for each kill."""
    rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
    return list(zip(rng.uniform(0.05, 0.8, n), rng.uniform(0.0, 0.1, n)))


def run_to_end(argv: list[str], env: dict, timeout: float = 240.0) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return time.monotonic() - t0


def kill_and_resume(case: Case, root: Path, points: int) -> None:
    env = {**os.environ, "DEXNDM_CACHE": str(root / "cache"), "OMP_NUM_THREADS": "1"}
    case.setup(root)
    reference = root / "reference"
    run_to_end(case.argv(reference), env)
    want = case.result(reference)
    for i, (share, delay) in enumerate(kill_points(case.name, points)):
        out = root / f"killed_{i}"
        proc = subprocess.Popen(case.argv(out), env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        while proc.poll() is None and case.progress(out) < share:
            time.sleep(0.05)
        time.sleep(delay)
        killed_at = case.progress(out)
        assert proc.poll() is None, f"{case.name} finished before its kill point (progress {killed_at:.2f})"
        os.killpg(proc.pid, signal.SIGKILL)              # the process and anything it started
        proc.wait()
        if out.exists():
            case.intact(out)                             # nothing half-written that the next step reads
        run_to_end(case.argv(out) + case.resume, env)
        got = case.result(out)
        if case.exact:
            assert set(got) == set(want)
            for k in want:
                torch.testing.assert_close(got[k], want[k], msg=f"{case.name}, killed at progress {killed_at:.2f}: {k}")
        else:
            assert got == want, f"{case.name}, killed at progress {killed_at:.2f}"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_command_killed_at_a_random_point_completes_when_run_again(case, tmp_path):
    kill_and_resume(case, tmp_path, 1)


@pytest.mark.killmatrix
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_kill_matrix_full(case, tmp_path):
    kill_and_resume(case, tmp_path, FULL_POINTS)
