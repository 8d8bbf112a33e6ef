"""One definition of the policy contract (policy.contract) and the checks that use it."""
import re
from pathlib import Path

import numpy as np
import pytest

from dexndm_learning.config import repo_root
from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import ArtifactError, PolicySpec, load_policy, save_policy
from dexndm_learning.policy.residual_mlp import ResidualMLP

SRC = (repo_root() or Path(".")) / "src"
# A second definition of the history length, action scale, control period or residual cap: a
# literal 10 given to a history, 1/24 anywhere, 0.05 s given to a control period / dt, or any
# number given to a residual's bound, cap or maximum.
COPIES = re.compile(r"history\w*\s*[:=]\s*(int\s*=\s*)?10\b|\b1(\.0)?\s*/\s*24\b|"
                    r"(control_period|control_dt|CONTROL_DT)\w*\s*(:\s*float\s*)?=\s*0\.05\b|"
                    r"residual_(bound|cap|max)\w*\s*(:\s*float\s*)?[=:]\s*[\d.]")


def test_the_contract_is_defined_once():
    offenders = []
    for path in SRC.rglob("*.py"):
        if "/test/" in str(path) or path.name == "contract.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if COPIES.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert offenders == []
    for path in SRC.rglob("*.yaml"):                     # both packages' config/ folders
        text = path.read_text()
        assert not re.search(r"^\s*(history|action_scale|control_period|residual_(bound|cap|max)\w*):", text, re.M), path


def test_dataset_and_env_layouts_agree():
    rng = np.random.default_rng(0)
    q, targets = rng.normal(size=(2, 6, 16)), rng.normal(size=(2, 6, 16))
    wrist, axis = rng.normal(size=(2, 4)), rng.normal(size=(2, 3))
    at = contract.proprio_at_steps(q, targets, wrist, axis, np.array([[4], [2]]), history=3)
    hist = contract.proprio_from_history(q[:, [2, 3, 4]], targets[:, [2, 3, 4]], wrist, axis)
    np.testing.assert_allclose(at[0, 0], hist[0])
    first = contract.proprio_from_history(q[:, [0, 1, 2]], targets[:, [0, 1, 2]], wrist, axis)
    np.testing.assert_allclose(at[1, 0], first[1])
    assert at.shape[-1] == contract.obs_dim(3)


def test_policy_records_its_rate_and_refuses_another(tmp_path):
    net = ResidualMLP(contract.obs_dim(), 16, 8, 1)
    ones = (np.zeros(contract.obs_dim()), np.ones(contract.obs_dim()))
    save_policy(tmp_path / "p.pt", "base", net, PolicySpec(contract.HISTORY, *ones, contract.ACTION_SCALE))
    policy = load_policy(tmp_path / "p.pt")
    assert policy.spec.control_dt == contract.CONTROL_DT
    policy.check_rate(20.0, "p.pt")
    with pytest.raises(ArtifactError, match=r"trained at 20 Hz .* asked to run at 30 Hz"):
        policy.check_rate(30.0, "p.pt")
