"""Start a graph's nodes (``graphs.NodeSpec``) in this process, as a launch file would start them."""
from __future__ import annotations

import importlib
from typing import Any

from rclpy.node import Node

from dexndm_control.graphs import NodeSpec
from dexndm_control.ros.params import load_node_params, node_parameters, runtime_config_dir


def node_class(spec: NodeSpec) -> type[Node]:
    module, name = spec.factory.split(":")
    return getattr(importlib.import_module(module), name)


def parameters(spec: NodeSpec) -> dict[str, Any]:
    """What the node gets: its params file section updated with the overrides."""
    return {**load_node_params(spec.name, runtime_config_dir() / spec.params_file), **spec.overrides}


def compose(specs: list[NodeSpec], context) -> list[Node]:
    """Instantiate every node of ``specs`` in ``context``; on failure none is left behind."""
    programs = [s.name for s in specs if not isinstance(s, NodeSpec)]
    if programs:
        raise ValueError(f"{programs} are programs of a ROS 2 install, not nodes: start this graph with ros2 launch")
    nodes: list[Node] = []
    try:
        for s in specs:
            params = node_parameters(s.name, s.overrides, runtime_config_dir() / s.params_file)
            nodes.append(node_class(s)(node_name=s.name, context=context, parameter_overrides=params))
    except Exception:
        for n in nodes:
            n.destroy_node()
        raise
    return nodes
