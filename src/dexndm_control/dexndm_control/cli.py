"""``dexndm``: the project's command line (runtime commands here; offline ones from dexndm-learn).

Every command works without ``ros2 launch``: the nodes a launch file would start are composed in
one process with an rclpy executor.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _demo(args) -> int:
    from dexndm_control import scripted_demo

    result = scripted_demo.run(Path(args.out), wrist=args.wrist)
    print(json.dumps(result, indent=2))
    return 0


def _sim_hand(args) -> int:
    import rclpy

    from dexndm_control.params import node_parameters
    from dexndm_control.sim_hand_node import SimHandNode

    rclpy.init()
    overrides = {"wrist": args.wrist, "real_time_factor": args.rtf}
    node = SimHandNode(parameter_overrides=node_parameters("sim_hand", overrides))
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dexndm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="simulated hand: scripted open/close/finger-gait, plot of commanded vs measured")
    p.add_argument("--out", default="outputs/main")
    p.add_argument("--wrist", default="palm_up")
    p.set_defaults(func=_demo)

    p = sub.add_parser("sim-hand", help="run the simulated LEAP Hand node (same topics as the driver)")
    p.add_argument("--wrist", default="palm_up")
    p.add_argument("--rtf", type=float, default=1.0, help="real-time factor")
    p.set_defaults(func=_sim_hand)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
