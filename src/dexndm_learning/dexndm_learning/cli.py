"""``dexndm-learn``: offline commands (no ROS needed)."""
from __future__ import annotations

import sys

COMMANDS = {
    "train-specialist": ("dexndm_learning.rl.specialist", "train a PPO rotation specialist"),
    "eval-specialist": ("dexndm_learning.rl.evaluate", "evaluate a specialist: RotR/TTF/RotP per axis group"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: dexndm-learn COMMAND [args]\n\ncommands:")
        for name, (_, help_) in COMMANDS.items():
            print(f"  {name:20s} {help_}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    import importlib

    module = importlib.import_module(COMMANDS[argv[0]][0])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
