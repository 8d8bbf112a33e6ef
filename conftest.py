"""Test-session settings shared by every package's tests.

Each pytest process gets its own ROS 2 domain and keeps discovery on this host, so test runs
that happen at the same time (or a robot on the same network) never see each other's topics.
"""
import os
import random

os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MPLBACKEND", "Agg")
# MuJoCo picks its offscreen GL backend when it is first imported, which in a test session is
# long before rl/render.py (which sets the same default) is imported.
os.environ.setdefault("MUJOCO_GL", "egl")


def pytest_collection_modifyitems(config, items):
    """Marks that run only when asked for (``-m killmatrix``, ``-m identification``, ``-m warpparity``):
    the full kill matrix and Warp parity check (CI runs their small parts) and the system
    identification accuracy check (minutes)."""
    import pytest

    asked = config.getoption("markexpr") or ""
    for mark, why in (("killmatrix", "full kill matrix: run with -m killmatrix"),
                      ("identification", "sysid accuracy (several minutes): run with -m identification"),
                      ("warpparity", "full Warp vs C parity (minutes on CPU): run with -m warpparity")):
        if mark in asked:
            continue
        for item in items:
            if mark in item.keywords:
                item.add_marker(pytest.mark.skip(reason=why))
