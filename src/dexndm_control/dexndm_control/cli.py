"""``dexndm``: the project's command line (runtime commands here; offline ones from dexndm-learn).

Every command works without ``ros2 launch``: the nodes a launch file would start are composed in
one process with an rclpy executor.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _demo(args) -> int:
    from dexndm_control.commands import scripted_demo

    result = scripted_demo.run(Path(args.out), wrist=args.wrist)
    print(json.dumps(result, indent=2))
    return 0


def _sim_hand(args) -> int:
    from dexndm_control.ros.node_main import spin
    from dexndm_control.ros.params import node_parameters
    from dexndm_control.nodes.sim_hand_node import SimHandNode

    overrides = {"wrist": args.wrist, "real_time_factor": args.rtf}
    make_hand = lambda context: SimHandNode(context=context,   # noqa: E731
                                            parameter_overrides=node_parameters("sim_hand", overrides))
    if not args.viz:
        spin(make_hand)
        return 0
    from dexndm_control.nodes.live_view_node import LiveViewNode
    from dexndm_control.ros.node_main import serve

    view = {"port": args.viz_port, "wrist": args.wrist}
    serve(lambda context: [make_hand(context), LiveViewNode(
        context=context, parameter_overrides=node_parameters("live_view", view))])
    return 0


def graph_options(p: argparse.ArgumentParser, graph: str, names: list[str], flags: dict[str, str] | None = None) -> None:
    """Options for arguments of a node graph (``graphs.GRAPHS``): defaults, help and parsing come
    from the graph, the definition the launch files use too. Booleans are flags, axes 3 numbers."""
    from dexndm_control import graphs

    spec = graphs.GRAPHS[graph].args
    for name in names:
        a, flag = spec[name], "--" + (flags or {}).get(name, name).replace("_", "-")
        if a.parse is graphs.parse_bool:
            p.add_argument(flag, dest=name, action="store_true", help=a.help)
        elif a.parse is graphs.parse_vector3:
            p.add_argument(flag, dest=name, nargs=3, type=float, metavar=("X", "Y", "Z"), default=a.parse(a.default),
                           help=f"{a.help} (default {a.default})")
        else:
            p.add_argument(flag, dest=name, type=a.parse, default=a.parse(a.default), help=f"{a.help} (default {a.default!r})")
    p.set_defaults(graph=graph, graph_args=list(names))


def graph_specs(args, **fixed):
    """The nodes of the parser's graph for parsed arguments, with ``fixed`` values."""
    from dexndm_control import graphs

    return graphs.build(args.graph, **{n: getattr(args, n) for n in args.graph_args}, **fixed)


def rotate_specs(args):
    """The "rotate" graph for parsed ``dexndm rotate`` arguments."""
    return graph_specs(args)


def teleop_specs(args):
    """The "teleop" graph for parsed ``dexndm teleop`` arguments."""
    return graph_specs(args)


def chaos_box_specs(args):
    """The "chaos_box" graph (simulated hand, the project's recorder) for parsed
    ``dexndm collect chaos-box`` arguments."""
    return graph_specs(args, sim=True, recorder="node", source=str(Path(args.from_dataset or args.actions).resolve()),
                       out=str(Path(args.out).resolve()))


def _collect_chaos_box(args) -> int:
    from dexndm_control.chaos_box import chaos_collect

    result = chaos_collect.run(chaos_box_specs(args))
    print(json.dumps(result, indent=2))
    if result["interrupted"]:
        print(f"stopped: {result['completed']} trajectories in complete bags; "
              "run the same command again to continue")
        return 130
    return 0


def _sim2sim(args) -> int:
    from dexndm_control.commands import sim2sim_pipeline
    from dexndm_control.nodes.policy_node import resolve_model_path

    try:
        sim2sim_pipeline.run(args.profile, Path(args.out), args.preset, resolve_model_path(args.base),
                             Path(args.rollouts) if args.rollouts else None, **_pipeline_overrides(args))
    except (KeyboardInterrupt, sim2sim_pipeline.Interrupted) as stop:
        print(f"stopped{': ' + str(stop) if str(stop) else ''}; run the same command again to continue")
        return 130
    print((Path(args.out) / "sim2sim.md").read_text())
    return 0


def _sim2sim_random(args) -> int:
    from dexndm_control.commands import sim2sim_pipeline, sim2sim_random
    from dexndm_control.nodes.policy_node import resolve_model_path

    try:
        sim2sim_random.run(args.distribution, args.k, Path(args.out), args.preset, resolve_model_path(args.base),
                           args.seed, **_pipeline_overrides(args))
    except (KeyboardInterrupt, sim2sim_pipeline.Interrupted) as stop:
        print(f"stopped{': ' + str(stop) if str(stop) else ''}; run the same command again to continue")
        return 130
    print((Path(args.out) / "random_profiles.md").read_text())
    return 0


def _sysid(args) -> int:
    from dexndm_control.commands import sysid
    from dexndm_learning.config import dotted_overrides
    from dexndm_learning.sysid.config import SysIdRunConfig

    if args.profile != "nominal" and not args.sim:
        raise ValueError("--profile is the simulated hand's world: add --sim (the LEAP Hand is its own)")
    cfg = SysIdRunConfig.load(args.config, dotted_overrides(args.set))
    try:
        rep = sysid.run(Path(args.out), cfg, args.sim, args.profile, args.rtf)
    except (KeyboardInterrupt, sysid.Interrupted) as stop:
        print(f"stopped{': ' + str(stop) if str(stop) else ''}; run the same command again to continue")
        return 130
    print((Path(args.out) / "sysid.md").read_text())
    print(sysid.summary(rep))
    return 0


def _rotate(args) -> int:
    if args.video:
        os.environ.setdefault("MUJOCO_GL", "egl")       # offscreen rendering: before mujoco is imported
    from dexndm_control.commands import rotate_run

    if args.video and not args.sim:
        raise ValueError("--video renders the simulated hand: add --sim")
    if not args.duration > 0:
        raise ValueError(f"--duration must be a positive number of seconds, got {args.duration}")
    result = rotate_run.run(rotate_specs(args), args.wrist, args.axis, args.duration, Path(args.out), args.video)
    print(json.dumps(result, indent=2))
    rot, fall = result["rotation_rad"], result["time_to_fall_s"]
    if rot is None:
        print(f"no object pose (only the simulated hand reports one); plot: {result['plot']}")
    else:
        print(f"rotation about the axis: {rot:.3f} rad; time to fall: "
              f"{'no fall' if fall is None else f'{fall:.2f} s'}; plot: {result['plot']}")
    return 0


def _teleop(args) -> int:
    from dexndm_control.graphs.composition import compose
    from dexndm_control.ros.node_main import serve

    serve(lambda context: compose(teleop_specs(args), context))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from dexndm_learning.config import add_set_option

    parser = argparse.ArgumentParser(prog="dexndm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="simulated hand: scripted open/close/finger-gait, plot of commanded vs measured")
    p.add_argument("--out", default="outputs/main")
    p.add_argument("--wrist", default="palm_up")
    p.set_defaults(func=_demo)

    p = sub.add_parser("sim-hand", help="run the simulated LEAP Hand node (same topics as the driver)")
    p.add_argument("--wrist", default="palm_up")
    p.add_argument("--rtf", type=float, default=1.0, help="real-time factor")
    graph_options(p, "rotate", ["viz", "viz_port"])
    p.set_defaults(func=_sim_hand)

    p = sub.add_parser("rotate", help="policy with a fixed wrist and axis on the LEAP Hand or (--sim) the "
                                      "simulated hand holding an object; rotation, time to fall, plot")
    graph_options(p, "rotate", ["wrist", "sim", "base", "residual", "axis", "object_set", "object_index",
                                "start_orientation", "start_offset", "viz", "viz_port", "record"])
    p.add_argument("--duration", type=float, default=20.0, help="seconds")
    p.add_argument("--out", default="outputs/rotate")
    p.add_argument("--video", nargs="?", const="mp4", default="", choices=["mp4", "gif"],
                   help="with --sim: also OUT/rotate.mp4 (H.264; or gif), time, axis and rotation drawn on the frames")
    p.set_defaults(func=_rotate)

    p = sub.add_parser("teleop", help="LEAP Hand + Franka bridge + Quest 3 teleop + policy, until Ctrl-C")
    graph_options(p, "teleop", ["base", "residual", "replay_file", "viz", "viz_port"])
    p.set_defaults(func=_teleop)

    collect = sub.add_parser("collect", help="data collection").add_subparsers(dest="what", required=True)
    p = collect.add_parser("chaos-box", help="Chaos Box: replay the base policy's simulated action trajectories "
                                             "on the simulated hand under load, record rosbag2 bags; resumable")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-dataset", metavar="DIR", help="rollout dataset (its episodes for --wrist)")
    src.add_argument("--actions", metavar="NPZ", help=".npz with actions (K, T, 16)")
    p.add_argument("--out", required=True, help="collection folder (bags + progress.json); rerun to continue")
    graph_options(p, "chaos_box", ["wrist", "profile", "trajectories", "steps", "noise_sigma", "scene", "balls",
                                   "real_time_factor", "per_bag", "viz", "viz_port"], flags={"real_time_factor": "rtf"})
    p.set_defaults(func=_collect_chaos_box)

    p = sub.add_parser("sysid", help="system identification: probing waves replayed on the free hand through ROS 2 "
                                     "and recorded as bags, sim parameters fitted to them; a reality profile out")
    p.add_argument("--out", required=True, help="folder: probe, bags, identified.yaml, report; rerun to continue")
    p.add_argument("--sim", action="store_true", help="the simulated hand (under --profile) instead of the LEAP Hand")
    p.add_argument("--profile", default="nominal", help="with --sim: the simulated hand's reality profile")
    p.add_argument("--rtf", type=float, default=50.0, help="with --sim: at most this many sim seconds per wall second")
    p.add_argument("--config", default="sysid", help="config/<name>.yaml or a path")
    add_set_option(p)
    p.set_defaults(func=_sysid)

    p = sub.add_parser("sim2sim", help="a reality profile's sim-to-sim table end to end: base rollouts, Chaos Box "
                                       "bags through ROS 2, NDMs, residuals, evaluation; resumable")
    p.add_argument("--profile", required=True, help="reality profile: name in config/reality/ or a YAML path")
    p.add_argument("--out", required=True, help="run folder (every phase's outputs and the report); rerun to continue")
    p.add_argument("--rollouts", help="phase 1's folder, shared by runs of one base policy (default OUT/rollouts)")
    _pipeline_options(p)
    p.set_defaults(func=_sim2sim)

    p = sub.add_parser("sim2sim-random", help="the sim2sim pipeline on K reality profiles drawn from a distribution: "
                                              "DexNDM / direct and whole-hand / direct ratios per profile and over all")
    p.add_argument("--distribution", default="random_hands", help="config/reality/distributions/ name or a YAML path")
    p.add_argument("--k", type=int, required=True, help="number of profiles (a rerun with a larger K continues)")
    p.add_argument("--seed", type=int, default=0, help="profile i is drawn from (seed, i)")
    p.add_argument("--out", required=True, help="benchmark folder (a sim2sim run per profile, the report)")
    _pipeline_options(p)
    p.set_defaults(func=_sim2sim_random)
    return parser


def _pipeline_options(p) -> None:
    """The pipeline's options: the preset, the base policy, and every PipelineConfig field (a
    given one replaces the preset's value)."""
    from dexndm_control.commands.sim2sim_config import PRESETS, PipelineConfig
    from dexndm_learning.config import add_field_options

    p.add_argument("--preset", default="small", choices=sorted(PRESETS),
                   help="sizes: tiny (tests), small (< 1 h on 2 cores), full (a real machine)")
    p.add_argument("--base", default="models/generalist/base.pt", help="base policy artifact")
    p.add_argument("--wrists", nargs="+", help="the base policy's wrists (default palm_up)")
    p.add_argument("--start-offset", nargs=3, type=float, metavar=("X", "Y", "Z"),
                   help="start grasp centre from the canonical one, hand frame, m (default 0 0 0; -0.02 0 -0.03: "
                        "on the palm)")
    p.add_argument("--baselines", nargs="+", choices=["uan", "asap", "finetune"],
                   help="add these baselines' rows: UAN, ASAP (models fitted on target data, base fine-tuned), "
                        "finetune (the control: the base fine-tuned the same way with no model)")
    p.add_argument("--select-strengths", nargs="+", type=float, metavar="S",
                   help="add the selected variant: trial runs of each residual at these strengths (0 < S <= 1) "
                        "and the base alone in the target; the best is kept (default: off)")
    p.add_argument("--select-seeds", nargs="+", type=int, metavar="SEED",
                   help="the selection's trial seeds, apart from --seeds (default 100 101 102 103)")
    p.set_defaults(pipeline_fields=add_field_options(p, PipelineConfig))


def _pipeline_overrides(args) -> dict:
    from dexndm_learning.config import given_options

    if (args.select_seeds or args.select_ttf_margin is not None or args.select_min_gain_se is not None) \
            and not args.select_strengths:
        raise ValueError("--select-seeds, --select-ttf-margin and --select-min-gain-se shape the selected variant: "
                         "give --select-strengths too")
    return {**given_options(args, args.pipeline_fields), "wrists": args.wrists, "start_offset": args.start_offset,
            "baselines": args.baselines,
            "select_strengths": args.select_strengths, "select_seeds": args.select_seeds}


def main(argv=None) -> int:
    from dexndm_learning.cli_errors import run_reporting_input_errors

    from dexndm_control.ros.node_main import FatalNodeError

    args = build_parser().parse_args(argv)
    try:
        return run_reporting_input_errors("dexndm", lambda: args.func(args))
    except FatalNodeError as exc:          # a node that cannot go on (a lost bus, a full disk)
        print(f"dexndm: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
