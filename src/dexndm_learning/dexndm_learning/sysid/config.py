"""Settings of ``dexndm sysid`` (``config/sysid.yaml``): the probing trajectories and the fit."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dexndm_learning.config import load_yaml, resolve_config
from dexndm_learning.data.wave_targets import WaveConfig
from dexndm_learning.sysid.fit import SysIdConfig


@dataclass
class SysIdRunConfig:
    trajectories: int = 48                   # probing trajectories (16 joints x 3 waveforms)
    probe: WaveConfig = field(default_factory=WaveConfig)
    fit: SysIdConfig = field(default_factory=SysIdConfig)
    seed: int = 0                            # of the probing waves

    @classmethod
    def load(cls, name_or_path: str | Path = "sysid", overrides: dict | None = None) -> "SysIdRunConfig":
        return load_yaml(cls, resolve_config(name_or_path), overrides)
