"""ROS 2 parameter files (this package's ``config/*.yaml``) for nodes started with or without
``ros2 launch``.

Launch files pass the same files to ``launch_ros``; code that composes nodes in one process
reads them here and hands them to the node as parameter overrides, so both paths start the same
nodes with the same parameters.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from rclpy.parameter import Parameter

from dexndm_learning.config import ConfigError


def runtime_config_dir() -> Path:
    """The nodes' parameter files: ``$DEXNDM_CONFIG_DIR`` if set, else this package's ``config/``
    (package data; a colcon install also copies them to ``share/dexndm_control/config`` for launch)."""
    env = os.environ.get("DEXNDM_CONFIG_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "config"


def load_node_params(node_name: str, path: str | Path | None = None) -> dict[str, Any]:
    """The ``ros__parameters`` of ``node_name`` in ``path`` (default ``<runtime config>/<node_name>.yaml``)."""
    path = Path(path) if path else runtime_config_dir() / f"{node_name}.yaml"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read ROS parameter file: {exc}") from exc
    section = data.get(node_name) or data.get("/**") or {}
    if "ros__parameters" not in section:
        raise ConfigError(f"{path}: no '{node_name}: ros__parameters:' section (found {sorted(data)})")
    return dict(section["ros__parameters"])


def as_overrides(params: dict[str, Any]) -> list[Parameter]:
    return [Parameter(k, value=v) for k, v in params.items()]


def node_parameters(node_name: str, overrides: dict[str, Any] | None = None,
                    path: str | Path | None = None) -> list[Parameter]:
    """File parameters updated with ``overrides``, ready for ``Node(parameter_overrides=...)``."""
    params = load_node_params(node_name, path)
    for k, v in (overrides or {}).items():
        if k not in params:
            raise ConfigError(f"unknown parameter '{k}' for node {node_name}; valid: {sorted(params)}")
        params[k] = v
    return as_overrides(params)


def declare_from_file(node, section: str, params_file: str) -> None:
    """Declare every parameter of ``section`` in the node's parameter file (``params_file`` in
    ``runtime_config_dir()``), with the file's value as the default: the file is the one place a
    node's defaults are written. Values from ``ros2 launch`` (the same file, plus overrides),
    ``--ros-args`` or ``parameter_overrides`` win as usual; the type is the file value's."""
    for name, value in load_node_params(section, runtime_config_dir() / params_file).items():
        if not node.has_parameter(name):          # use_sim_time is declared by rclpy itself
            node.declare_parameter(name, value)
