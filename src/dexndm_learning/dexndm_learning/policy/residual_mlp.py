"""The generalist's network (method.md section 5): input linear to ``width``, ``blocks`` residual
blocks ``y = ReLU(L1(x) + L3(ReLU(L2(x))))``, output linear."""
from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.l1 = nn.Linear(width, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.l1(x) + self.l3(torch.relu(self.l2(x))))


class ResidualMLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, width: int = 1024, blocks: int = 5):
        super().__init__()
        self.arch = {"in_dim": in_dim, "out_dim": out_dim, "width": width, "blocks": blocks}
        self.inp = nn.Linear(in_dim, width)
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.out = nn.Linear(width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.inp(x)))
