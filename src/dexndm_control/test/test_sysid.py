"""dexndm sysid: probing waves through ROS 2 into bags, then the fit (tiny sizes; the accuracy
check is dexndm_learning's test_sysid.py)."""
import json

import numpy as np
import pytest
import yaml

from dexndm_control import cli
from dexndm_learning.ndm.bag_ingest import load_bags
from dexndm_learning.sim.reality import load_profile

TINY = ["trajectories=4", "probe.steps=20", "fit.iterations=2", "fit.population=6", "fit.elites=2", "fit.nthread=1"]


def test_probes_through_ros_fits_a_profile_and_reuses_the_bags(tmp_path, capsys):
    kp = np.round(np.linspace(0.7, 1.3, 16), 3)
    profile = tmp_path / "hand.yaml"
    profile.write_text(yaml.safe_dump({"description": "test hand", "kp_scale": kp.tolist(), "kd_scale": 1.5}))
    out = tmp_path / "sysid"
    argv = ["sysid", "--sim", "--profile", str(profile), "--out", str(out), "--set", *TINY]
    assert cli.main(argv) == 0
    assert "largest relative error" in capsys.readouterr().out
    identified = load_profile(out / "identified.yaml")              # a profile any command takes
    assert len(identified.kp_scale) == 16 and identified.torque_limit is None
    rep = json.loads((out / "sysid.json").read_text())
    assert rep["steps"] == 4 * 20 and rep["latency_steps_true"] == 0 and rep["latency_steps"] in (0, 1, 2)
    assert [r["kp_scale_true"] for r in rep["joints"].values()] == pytest.approx(kp)
    assert all(r["kd_scale_true"] == pytest.approx(1.5) for r in rep["joints"].values())
    assert (out / "sysid.png").stat().st_size > 0
    # The bags hold the probe: every recorded command is the probe's target, trajectory by trajectory.
    steps, errors = load_bags([out / "bags"])
    assert not errors
    with np.load(out / "probe.npz") as f:
        targets = f["targets"]
    segments = [steps.a[steps.segment == s] for s in np.unique(steps.segment)]
    assert len(segments) == 4
    for seg, probe in zip(segments, targets):
        np.testing.assert_allclose(seg, probe, atol=1e-6)
    # A rerun fits again from the same bags (other fit settings are fine); other probing is refused.
    bags = {p: p.stat().st_mtime_ns for p in (out / "bags").rglob("*") if p.is_file()}
    assert cli.main(argv + ["fit.iterations=1"]) == 0
    assert {p: p.stat().st_mtime_ns for p in bags} == bags
    assert cli.main(argv + ["probe.amplitude=0.4"]) == 2
    assert cli.main(["sysid", "--profile", str(profile), "--out", str(tmp_path / "x")]) == 2   # --profile needs --sim
