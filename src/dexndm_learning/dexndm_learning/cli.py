"""``dexndm-learn``: offline commands (no ROS needed)."""
from __future__ import annotations

import sys

COMMANDS = {
    "train-specialist": ("dexndm_learning.rl.specialist", "train a PPO rotation specialist"),
    "eval-specialist": ("dexndm_learning.rl.evaluate", "evaluate a specialist: RotR/TTF/RotP per axis group"),
    "eval-policy": ("dexndm_learning.rl.eval_policy",
                    "any policy file or specialist in the paper's Table 1 layout (wrists x axis groups, GO Succ)"),
    "plot-curves": ("dexndm_learning.rl.curves", "learning curves of a specialist run (PNG)"),
    "specialist-table": ("dexndm_learning.rl.specialist_table",
                         "the committed specialists against issue 17's bars, and their CPU time (Markdown)"),
    "render-episodes": ("dexndm_learning.rl.render", "render a policy rotating objects: contact sheet PNG + MP4"),
    "collect-rollouts": ("dexndm_learning.bc.collect", "roll out a specialist, keep successful episodes"),
    "train-generalist": ("dexndm_learning.bc.train", "behaviour cloning of the generalist, export policy.pt"),
    "build-generalist": ("dexndm_learning.bc.pipeline",
                         "the generalist from a YAML list of teachers: rollouts, BC, DAgger (resumable)"),
    "versus-teachers": ("dexndm_learning.bc.versus_teachers",
                        "a generalist against each teacher of its recipe, on the teacher's conditions"),
    "train-ndm": ("dexndm_learning.ndm.train", "fit a neural dynamics model from step data or bags"),
    "eval-ndm": ("dexndm_learning.ndm.evaluate", "one-step and open-loop rollout errors of a dynamics model"),
    "ndm-generalization": ("dexndm_learning.studies.ndm_generalization",
                           "joint- vs finger-wise vs whole-hand NDM on Chaos Box data, in-domain and OOD"),
    "fit-uan": ("dexndm_learning.baselines.uan",
                "UAN baseline: a shared per-joint compensator fitted to free-hand wave steps"),
    "fit-asap": ("dexndm_learning.baselines.asap",
                 "ASAP baseline: a delta-action model fitted to the base policy's steps in a target world"),
    "train-residual": ("dexndm_learning.residual.train", "residual policy through a frozen NDM"),
    "sim2sim": ("dexndm_learning.residual.sim2sim", "direct transfer vs NDM + residual in a reality profile"),
    "sim2sim-diagnosis": ("dexndm_learning.studies.sim2sim_diagnosis",
                          "why a sim2sim run's residual helps or hurts: tracking vs a nominal twin, NDM error, latency"),
    "hold-test": ("dexndm_learning.sim.holding", "still-hand holding test and start-grasp yield per wrist"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: dexndm-learn COMMAND [args]\n\ncommands:")
        for name, (_, help_) in COMMANDS.items():
            print(f"  {name:20s} {help_}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    import importlib

    from dexndm_learning.cli_errors import run_reporting_input_errors

    module = importlib.import_module(COMMANDS[argv[0]][0])
    prog = f"dexndm-learn {argv[0]}"
    saved = sys.argv[:1]
    sys.argv[:1] = [prog]          # the command's parser, built without prog=, takes its name from here
    try:
        return run_reporting_input_errors(prog, lambda: module.main(argv[1:]))
    finally:
        sys.argv[:1] = saved


if __name__ == "__main__":
    sys.exit(main())
