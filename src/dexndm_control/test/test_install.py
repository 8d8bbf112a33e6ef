"""The packages installed non-editable (as a wheel would put them) find their own configs: no
checkout, no ``DEXNDM_CONFIG_DIR``, run from an unrelated folder."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dexndm_learning.config import repo_root

ROOT = repo_root()
PACKAGES = ("dexndm_learning", "dexndm_control", "dexndm_teleop")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if ROOT is None:
        pytest.skip("needs the source checkout to install from")
    sources, target = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("site")
    for p in PACKAGES:      # a clean copy: no build/ left over from an earlier install, nothing written to the checkout
        shutil.copytree(ROOT / "src" / p, sources / p, ignore=shutil.ignore_patterns("build", "*.egg-info", "test"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), *(str(sources / p) for p in PACKAGES)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "DEXNDM_CONFIG_DIR"}
    env["PYTHONPATH"] = str(target)            # ahead of the venv's editable finders
    return target, env


def run(installed, *cmd, cwd):
    target, env = installed
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_installed_packages_are_the_ones_imported(installed, tmp_path):
    target, _ = installed
    code = "import dexndm_learning.config as c, dexndm_control.ros.params as p; print(c.config_dir(), p.runtime_config_dir())"
    out = run(installed, sys.executable, "-c", code, cwd=tmp_path)
    learning, control = (Path(line) for line in out.stdout.split())
    assert out.returncode == 0, out.stderr
    assert learning.is_relative_to(target) and (learning / "specialists" / "cyl_palm_up.yaml").is_file()
    assert control.is_relative_to(target) and (control / "policy.yaml").is_file()


def test_train_specialist_and_the_runtime_cli_run_from_the_install(installed, tmp_path):
    target, _ = installed
    out = run(installed, sys.executable, "-m", "dexndm_learning.cli", "train-specialist", "--config", "cyl_palm_up",
              "--iterations", "1", "--run-dir", str(tmp_path / "run"),
              "--set", "env.num_envs=16", "env.grasp.candidates=8", cwd=tmp_path)   # small: the configs are the point
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    out = run(installed, sys.executable, str(target / "bin" / "dexndm"), "rotate", "--help", cwd=tmp_path)
    assert out.returncode == 0 and "--wrist" in out.stdout, out.stderr[-2000:]
