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
    """The full kill matrix (``-m killmatrix``) runs only when asked for; CI runs its small part."""
    import pytest

    if "killmatrix" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="full kill matrix: run with -m killmatrix")
    for item in items:
        if "killmatrix" in item.keywords:
            item.add_marker(skip)
