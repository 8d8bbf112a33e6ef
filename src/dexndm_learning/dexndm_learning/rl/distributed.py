"""Specialists on every core: ``torchrun`` starts one training process per rank and rsl_rl
averages gradients, the adaptive learning rate's KL and the observation normalizers across them.
(The runner's device is the environment's: ``cpu`` and a ``gloo`` group for the C MuJoCo
backends, ``cuda:<local_rank>`` and ``nccl`` for MuJoCo Warp with ``env.arrays: torch`` on GPUs.)

    torchrun --nproc_per_node 4 -m dexndm_learning.cli train-specialist --config cyl_palm_up

rsl_rl 5.5 switches multi-GPU mode on from torchrun's ``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK``
but hard-codes the ``nccl`` backend and a ``cuda:<local_rank>`` device. ``DistributedRunner``
keeps its mode and replaces only that set-up: ``nccl`` on CUDA, ``gloo`` on CPU, with the process
group started here before the environments are built, so rank 0 alone builds the start grasps
(the others then read them from the shared cache) and ranks can agree on stopping.

What each rank does differently: its seed (torch and the environments: ``seed + rank``);
only rank 0 writes checkpoints, TensorBoard and progress. Environment steps and the curricula
driven by them count all ranks' steps. ``agree_to_stop`` makes every rank stop at the same
iteration (a time budget read on one clock); ``gather`` collects each rank's ``digest`` of its actor
and critic and its own rollout reward, so a run can prove the ranks saw different data and still
hold identical networks.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from rsl_rl.runners import OnPolicyRunner


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_environment() -> Ranks:
    """The ranks torchrun set (WORLD_SIZE, RANK, LOCAL_RANK); one process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Ranks(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world)


def start(ranks: Ranks, device: str = "cpu") -> None:
    """Join the process group (``nccl`` for CUDA devices, ``gloo`` otherwise); a no-op for one process."""
    if not ranks.distributed or dist.is_initialized():
        return
    if device.startswith("cuda"):
        torch.cuda.set_device(ranks.local_rank)
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", rank=ranks.rank, world_size=ranks.world_size)


def finish(ranks: Ranks) -> None:
    """Leave the process group (at the end of training)."""
    if ranks.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        dist.barrier()


def agree_to_stop(ranks: Ranks, stop: bool) -> bool:
    """True on every rank if rank 0 says stop (rank 0's clock decides for all)."""
    if not ranks.distributed:
        return stop
    device = f"cuda:{ranks.local_rank}" if dist.get_backend() == "nccl" else "cpu"
    flag = torch.tensor([1 if stop else 0], dtype=torch.int64, device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def gather(ranks: Ranks, obj) -> list:
    """``obj`` of every rank, in rank order."""
    if not ranks.distributed:
        return [obj]
    out: list = [None] * ranks.world_size
    dist.all_gather_object(out, obj)
    return out


def digest(modules: list[torch.nn.Module]) -> str:
    """SHA-256 of the modules' state (parameters and normalizer buffers)."""
    h = hashlib.sha256()
    for m in modules:
        for k, v in sorted(m.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class DistributedRunner(OnPolicyRunner):
    """rsl_rl's runner with its multi-GPU set-up made device-agnostic (see the module docstring)."""

    def _configure_multi_gpu(self) -> None:
        ranks = from_environment()
        self.gpu_world_size, self.is_distributed = ranks.world_size, ranks.distributed
        self.gpu_local_rank, self.gpu_global_rank = ranks.local_rank, ranks.rank
        if not ranks.distributed:
            self.cfg["multi_gpu"] = None
            return
        self.cfg["multi_gpu"] = {"global_rank": ranks.rank, "local_rank": ranks.local_rank,
                                 "world_size": ranks.world_size}
        start(ranks, self.device)
