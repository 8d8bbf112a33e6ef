"""The NDM configuration (``config/ndm.yaml``): model, training and bag ingest sections."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dexndm_learning.config import load_yaml, resolve_config
from dexndm_learning.ndm.bag_ingest import IngestConfig
from dexndm_learning.ndm.models import ModelConfig


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 1024
    lr: float = 1.0e-3             # AdamW; cosine from lr (first epoch) to lr_final (last)
    lr_final: float = 1.0e-5
    weight_decay: float = 0.0
    eval_fraction: float = 0.1     # 9:1 train/eval split
    split_block: int = 50          # transitions per split block (see dataset.split_blocks)
    seed: int = 0                  # initialization and batch order
    split_seed: int | None = None  # the train/eval split (None: seed); ensemble members share it
    device: str = "cpu"            # "cuda" on a GPU server
    threads: int = 0               # torch CPU threads; 0 = torch's default


@dataclass
class NdmConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)

    @classmethod
    def load(cls, name_or_path: str | Path = "ndm", overrides: dict | None = None) -> "NdmConfig":
        return load_yaml(cls, resolve_config(name_or_path), overrides)
