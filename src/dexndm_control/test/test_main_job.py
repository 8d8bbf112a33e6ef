"""The README's main job (`make main`): the committed generalist rotates a cylinder on the
simulated hand, palm down, about +z, from an upright start, through the same command line,
without dropping it."""
import json
from pathlib import Path

from dexndm_control import cli
from dexndm_learning.config import repo_root

TRAINED_BASE = (repo_root() or Path(".")) / "models" / "generalist" / "base.pt"


def test_make_main_rotates_the_cylinder_without_a_fall(tmp_path, capsys):
    """``make main``'s command (10 s instead of 15). The committed model turns the cylinder 15.0 rad
    in 10 s through ROS 2; 3 rad is far from what a broken path gives (about 0, or the wrong sign)."""
    assert TRAINED_BASE.exists(), f"the committed generalist is missing: {TRAINED_BASE}"
    status = cli.main(["rotate", "--sim", "--wrist", "palm_down", "--axis", "0", "0", "1", "--start-orientation",
                       "upright", "--duration", "10", "--out", str(tmp_path)])   # the base of config/policy.yaml, as make main
    assert status == 0
    out = capsys.readouterr().out
    result = json.loads(out[:out.rindex("}") + 1])
    assert result["time_to_fall_s"] is None
    assert result["rotation_rad"] > 3.0
    assert Path(result["plot"]).exists()
