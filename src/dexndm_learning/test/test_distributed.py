"""Distributed specialist training (rl.distributed): two gloo ranks of the real specialist config
under torchrun see different data and end with identical networks; rank 0 alone writes."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from dexndm_learning.config import repo_root
from dexndm_learning.rl import distributed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_process_is_not_distributed(monkeypatch):
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    r = distributed.from_environment()
    assert not r.distributed and r.main and distributed.agree_to_stop(r, True)
    assert distributed.gather(r, {"a": 1}) == [{"a": 1}]
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    assert distributed.digest([a]) != distributed.digest([b])
    b.load_state_dict(a.state_dict())
    assert distributed.digest([a]) == distributed.digest([b])


@pytest.mark.slow
def test_two_gloo_ranks_train_one_specialist_and_stay_identical(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "DEXNDM_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "dexndm_learning.cli", "train-specialist", "--config", "cyl_palm_up", "--iterations", "3",
           "--run-dir", str(run), "--set", "env.num_envs=8", "env.grasp.candidates=8"]
    proc = subprocess.run(cmd, env=env, cwd=repo_root(), capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = json.loads((run / "ranks.json").read_text())
    assert ranks["world_size"] == 2 and len(ranks["ranks"]) == 2
    (a, b) = ranks["ranks"]
    assert a["digest"] == b["digest"]                       # gradients and normalizers averaged
    assert a["mean_reward"] != b["mean_reward"]             # each rank its own environments
    ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
    assert ckpt["iter"] == 2 and ckpt["env_steps"] == 3 * 16 * 8 * 2      # iterations x steps x envs x ranks
    lines = (run / "progress.csv").read_text().splitlines()
    assert len(lines) == 1 + 3                               # one writer: rank 0
