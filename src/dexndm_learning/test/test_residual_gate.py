"""The residual's confidence gate (issue 19): NDM ensemble, calibration, scale, the gate inside the
residual artifact, its history, and residual training through an ensemble."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

from dexndm_learning.ndm.models import ModelConfig, build_model
from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import ArtifactError, PolicySpec, load_policy, save_policy
from dexndm_learning.policy.contract import obs_dim
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.residual.gate import (GateHistory, NdmEnsemble, ResidualGate, calibrate, gate_from_payload,
                                           scale_from_spread)
from dexndm_learning.residual.train import ResidualConfig, train

torch.set_num_threads(1)
RES_DIM = obs_dim() + 16
W = 3


def pair(delta: float) -> NdmEnsemble:
    """Two joint-wise NDMs equal except that the second predicts joint 0 ``delta`` rad higher:
    spread delta / 2 on joint 0, 0 on the others, for any input."""
    torch.manual_seed(0)
    a = build_model("joint", window=W, width=8, depth=1)
    b = copy.deepcopy(a)
    with torch.no_grad():
        b.delta_mean[0] += delta
    return NdmEnsemble([a, b])


def windows(n: int, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(seed).normal(0, 0.3, (n, W, 16, 2)), dtype=torch.float32)


def test_scale_is_full_to_the_reference_and_none_from_twice_it():
    ref = np.full(16, 0.01)
    s = scale_from_spread(np.array([0.0, 0.01, 0.015, 0.02, 0.5] + [0.0] * 11), ref)
    np.testing.assert_allclose(s[:5], [1.0, 1.0, 0.5, 0.0, 0.0])
    torch.testing.assert_close(scale_from_spread(torch.tensor([0.005, 0.0175]), torch.tensor([0.01, 0.01])),
                               torch.tensor([1.0, 0.25]))


def test_ensemble_predicts_the_mean_and_its_spread():
    ens, x = pair(0.02), windows(5)
    p = ens.all(x)
    assert p.shape == (2, 5, 16)
    torch.testing.assert_close(ens(x), p.mean(0))
    mean, spread = ens.mean_and_spread(x)
    torch.testing.assert_close(spread[:, 0], torch.full((5,), 0.01))
    assert spread[:, 1:].abs().max() < 1e-6
    assert NdmEnsemble([ens.members[0]]).mean_and_spread(x)[1].abs().max() == 0       # one member: no spread
    first = NdmEnsemble(list(ens.members), predictors=1)             # the second member only adds doubt
    torch.testing.assert_close(first(x), p[0])
    torch.testing.assert_close(first.mean_and_spread(x)[1], spread)
    with pytest.raises(ValueError, match="predictors"):
        NdmEnsemble(list(ens.members), predictors=3)
    with pytest.raises(ValueError, match="different windows"):
        NdmEnsemble([ens.members[0], build_model("joint", window=W + 1, width=8, depth=1)])


def test_calibration_takes_each_joints_quantile():
    torch.manual_seed(1)
    ens = NdmEnsemble([build_model("joint", window=W, width=8, depth=1) for _ in range(3)])
    x = windows(400)
    ref = calibrate(ens, x.numpy(), 0.9, chunk=128)
    spread = ens.mean_and_spread(x)[1].detach().double().numpy()
    np.testing.assert_allclose(ref, np.quantile(spread, 0.9, axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="quantile"):
        calibrate(ens, x.numpy(), 1.0)


def test_gate_travels_inside_the_residual_artifact(tmp_path):
    gate = ResidualGate(pair(0.02), np.full(16, 0.004), 0.95)
    net = ResidualMLP(RES_DIM, 16, 8, 1)
    spec = PolicySpec(10, np.zeros(RES_DIM), np.ones(RES_DIM), 1 / 24, residual_bound=contract.RESIDUAL_CAP)
    save_policy(tmp_path / "res.pt", "residual", net, spec, gate)
    loaded = load_policy(tmp_path / "res.pt").gate
    assert loaded.quantile == 0.95 and loaded.window == W and loaded.ensemble.predictors == 2
    np.testing.assert_allclose(loaded.sigma_ref, gate.sigma_ref)
    torch.testing.assert_close(loaded.scale(windows(4)), gate.scale(windows(4)))
    save_policy(tmp_path / "plain.pt", "residual", net, spec)
    assert load_policy(tmp_path / "plain.pt").gate is None
    with pytest.raises(ValueError, match="only a residual"):
        save_policy(tmp_path / "base.pt", "base", ResidualMLP(RES_DIM - 16, 16, 8, 1), spec, gate)
    blob = torch.load(tmp_path / "res.pt", weights_only=True)
    blob["gate"]["format"] = "something else"
    torch.save(blob, tmp_path / "bad.pt")
    with pytest.raises(ArtifactError, match="bad.pt: unusable residual gate"):
        load_policy(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="positive"):
        gate_from_payload({**gate.payload(), "sigma_ref": torch.zeros(16)}, "x")


def test_history_scales_the_residual_and_records_the_command_sent():
    # spread on joint 0 is 0.006 = 1.5 x sigma_ref: half strength there, full elsewhere
    hist = GateHistory(ResidualGate(pair(0.012), np.full(16, 0.004), 0.95), n=2)
    q = np.zeros((2, 16))
    hist.reset([0, 1], q, np.full((2, 16), 0.1))
    assert np.all(hist.buf[:, :, :, 1] == 0.1)
    base, res = np.full((2, 16), 0.2), np.full((2, 16), 0.03)
    gated, scale = hist.apply(q, base, res)
    np.testing.assert_allclose(scale[:, 0], 0.5, atol=1e-5)
    np.testing.assert_allclose(scale[:, 1:], 1.0)
    np.testing.assert_allclose(gated, scale * res)
    np.testing.assert_allclose(hist.buf[:, -1, :, 1], contract.commanded_target(base, gated))
    np.testing.assert_allclose(hist.buf[:, -2, :, 1], 0.1)                     # the history moved on one row
    hist.set_last_command(np.full((2, 16), 0.3))
    assert np.all(hist.buf[:, -1, :, 1] == 0.3)


class Tracker(nn.Module):
    """First-order tracking world q' = q + gain (a - q) with the NDM interface."""

    def __init__(self, gain: float):
        super().__init__()
        self.gain, self.config = gain, ModelConfig("joint", window=W)

    def forward(self, x):
        q, a = x[:, -1, :, 0], x[:, -1, :, 1]
        return q + self.gain * (a - q)


def _train(root, ndm, gate=None, **kw):
    from test_residual import write_sim_rollouts

    if not (root / "sim").exists():
        write_sim_rollouts(root / "sim")
    cfg = ResidualConfig(width=32, blocks=1, epochs=6, chunk=16, batch_chunks=16, lr=3e-3, joint_noise=0.0,
                         val_fraction=0.2, evals_per_epoch=1, torch_threads=1, data=[str(root / "sim")], **kw)
    return train(cfg, ndm, W, root / f"run_{len(list(root.iterdir()))}", progress=False, gate=gate)


def test_training_through_an_ensemble_penalizes_disagreement_and_applies_the_gate(tmp_path):
    # Members that agree only on commands equal to q: the residual the mean model wants (more
    # command, the world is weak) makes them disagree, the penalty holds it back.
    ens = NdmEnsemble([Tracker(0.3), Tracker(0.5)])
    free = _train(tmp_path, ens)
    held = _train(tmp_path, ens, disagreement_weight=5.0)
    assert free["members"] == 2 and free["best_val_loss"] < free["zero_residual_val_loss"]
    assert held["best_val_spread"] < 0.5 * free["best_val_spread"]
    # A gate that never trusts the model: nothing is applied, so nothing is learned.
    gated = _train(tmp_path, ens, gate=ResidualGate(ens, np.full(16, 1e-9), 0.5))
    assert gated["best_val_loss"] == pytest.approx(gated["zero_residual_val_loss"])
    assert gated["gate"]["quantile"] == 0.5
    with pytest.raises(ValueError, match="ensemble of at least 2"):
        _train(tmp_path, Tracker(0.4), disagreement_weight=1.0)
