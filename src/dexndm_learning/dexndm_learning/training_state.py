"""What a killed training run needs to continue exactly where an uninterrupted one would be: the
weights, the optimizer, the schedule and both random states, saved atomically (a kill while saving
leaves the previous file), for ``--resume`` (BC, residual and NDM training)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def save_atomic(obj, path: Path) -> None:
    """``torch.save`` through a temporary file, so a reader never sees half of it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def snapshot(net: torch.nn.Module, opt, sched, rng: np.random.Generator, **extra) -> dict:
    return {"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
            "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), **extra}


def restore(ckpt: dict, net: torch.nn.Module, opt, sched, rng: np.random.Generator) -> dict:
    """Load a ``snapshot`` into the objects; returns it for its extra entries."""
    net.load_state_dict(ckpt["net"])
    opt.load_state_dict(ckpt["opt"])
    sched.load_state_dict(ckpt["sched"])
    rng.bit_generator.state = ckpt["numpy_rng"]
    torch.set_rng_state(ckpt["torch_rng"])
    return ckpt


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)     # our own file: random states included
