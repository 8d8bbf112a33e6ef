"""Neural dynamics models, transitions, training (pretrain, fine-tune, resume) and evaluation."""
import numpy as np
import pytest
import torch

from dexndm_learning.joint_order import FINGERS
from dexndm_learning.ndm import evaluate as ev
from dexndm_learning.ndm import train as tr
from dexndm_learning.ndm.config import NdmConfig, TrainConfig
from dexndm_learning.ndm.dataset import split_blocks
from dexndm_learning.ndm.models import (JointWiseNDM, ModelConfig, build_model, load_model,
                                        save_model)
from dexndm_learning.ndm.steps import Steps, make_windows
from dexndm_learning.ndm.synthetic import linear_steps

torch.set_num_threads(1)
KINDS = ["joint", "finger", "whole"]
GAIN = 0.3


def small_cfg(kind="joint", epochs=30, lr=3e-3) -> NdmConfig:
    return NdmConfig(model=ModelConfig(kind, window=10, width=64, depth=2),
                     train=TrainConfig(epochs=epochs, batch_size=256, lr=lr, lr_final=min(lr, 1e-4)))


def random_input(batch=8, window=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, window, 16, 2, generator=g)


# --- models -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_shapes(kind):
    model = build_model(kind, window=7, width=32, depth=3)
    x = random_input(5, 7)
    assert model(x).shape == (5, 16)
    assert model.forward_normalized(x).shape == (5, 16)
    assert len(model.net.weights) == 4
    assert model.net.weights[0].shape[0] == {"joint": 16, "finger": 4, "whole": 1}[kind]


def _changed_outputs(model, j):
    x = random_input()
    x2 = x.clone()
    x2[:, :, j, :] += 0.3             # joint j's whole history, positions and targets
    with torch.no_grad():
        diff = (model(x2) - model(x)).abs().amax(0)
    return set(torch.nonzero(diff > 0).flatten().tolist())


def test_joint_wise_independence():
    model = build_model("joint", width=32)
    for j in range(16):
        assert _changed_outputs(model, j) == {j}


def test_finger_wise_independence():
    model = build_model("finger", width=32)
    for joints in FINGERS.values():
        for j in joints:
            assert _changed_outputs(model, j) == set(joints)


def test_whole_hand_sees_every_joint():
    assert _changed_outputs(build_model("whole", width=32), 5) == set(range(16))


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(tmp_path, kind):
    model = build_model(kind, window=6, width=24, depth=1)
    w = make_windows(linear_steps(2, 40), 6)
    model.fit_normalization(torch.as_tensor(w.windows), torch.as_tensor(w.next_q))
    save_model(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert type(loaded) is type(model) and loaded.config == model.config
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)
    x = torch.as_tensor(w.windows[:16])
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


# --- transitions and split ----------------------------------------------------------------------

def test_windows_match_steps():
    steps = Steps(np.random.rand(30, 16), np.random.rand(30, 16), [0] * 12 + [1] * 18)
    w = make_windows(steps, 5)
    assert w.windows.shape == ((12 - 5) + (18 - 5), 5, 16, 2)
    # first transition of segment 1: history = steps 12..16, target = q of step 17
    i = 12 - 5
    np.testing.assert_array_equal(w.windows[i, :, :, 0], steps.q[12:17])
    np.testing.assert_array_equal(w.windows[i, :, :, 1], steps.a[12:17])
    np.testing.assert_array_equal(w.next_q[i], steps.q[17])
    assert w.segment[i] == 1


def test_split_blocks_is_seeded_disjoint_and_about_nine_to_one():
    segment = np.repeat(np.arange(7), [300, 120, 500, 80, 260, 400, 340])
    train, evl = split_blocks(segment, 0.1, seed=3, block=50)
    assert len(np.intersect1d(train, evl)) == 0 and len(train) + len(evl) == len(segment)
    assert 0.09 <= len(evl) / len(segment) <= 0.12
    again = split_blocks(segment, 0.1, seed=3, block=50)
    np.testing.assert_array_equal(evl, again[1])
    assert not np.array_equal(evl, split_blocks(segment, 0.1, seed=4, block=50)[1])
    # eval transitions come in runs of whole blocks
    runs = np.split(evl, np.flatnonzero(np.diff(evl) != 1) + 1)
    assert min(len(r) for r in runs) >= 20


# --- training and evaluation --------------------------------------------------------------------

def test_learns_linear_joint_dynamics(tmp_path):
    # a little process noise: without it the q history is an exact function of the targets, the
    # net may lean on those collinear features and its open-loop rollouts drift off and diverge
    data = linear_steps(20, 200, GAIN, seed=1, noise=2e-3)
    summary = tr.train(small_cfg(), data, tmp_path / "run", progress=False)
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"best.pt", "last.pt", "config.yaml", "tb"}
    assert summary["eval_transitions"] > 0
    model = load_model(tmp_path / "run" / "best.pt")
    test = linear_steps(3, 200, GAIN, seed=7)
    w = make_windows(test, 10)
    with torch.no_grad():
        pred = model(torch.as_tensor(w.windows)).numpy()
    mse = float(((pred - w.next_q) ** 2).mean())
    no_change = float(((w.windows[:, -1, :, 0] - w.next_q) ** 2).mean())
    assert mse < 1e-6 and mse < 0.01 * no_change, (mse, no_change)
    open_loop = ev.rollout_errors(model, test)
    assert float(open_loop[40].mean()) < 1e-5, {h: float(v.mean()) for h, v in open_loop.items()}


def test_resume_continues_exactly(tmp_path, monkeypatch):
    steps = linear_steps(6, 120, GAIN, seed=2)
    cfg = small_cfg(epochs=4)
    tr.train(cfg, steps, tmp_path / "full", progress=False)

    calls = {"n": 0}
    real = tr.one_step_errors

    def crash_in_third_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tr, "one_step_errors", crash_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        tr.train(cfg, steps, tmp_path / "cut", progress=False)
    monkeypatch.setattr(tr, "one_step_errors", real)
    with pytest.raises(FileExistsError):
        tr.train(cfg, steps, tmp_path / "cut", progress=False)
    tr.train(cfg, steps, tmp_path / "cut", resume=True, progress=False)
    full = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    cut = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert full["epoch"] == cut["epoch"] == 3
    for key, value in full["model"]["state_dict"].items():
        torch.testing.assert_close(cut["model"]["state_dict"][key], value, rtol=0, atol=0)


def test_fine_tune_keeps_pretrained_normalization_and_starts_better(tmp_path):
    tr.train(small_cfg("finger", epochs=10), linear_steps(8, 150, GAIN, seed=4), tmp_path / "pre",
             progress=False)
    pretrained = load_model(tmp_path / "pre" / "best.pt")
    real = linear_steps(4, 150, 0.35, seed=5)             # "real" hand: slightly different gain
    cfg = small_cfg("joint", epochs=1, lr=1e-4)           # architecture comes from the checkpoint
    tr.train(cfg, real, tmp_path / "fine", init=tmp_path / "pre" / "best.pt", progress=False)
    tuned = load_model(tmp_path / "fine" / "best.pt")
    assert tuned.config == pretrained.config
    torch.testing.assert_close(tuned.feature_std, pretrained.feature_std, rtol=0, atol=0)
    scratch = tr.train(cfg, real, tmp_path / "scratch", progress=False)["best_eval_loss"]
    fine = torch.load(tmp_path / "fine" / "last.pt", weights_only=True)["best_eval"]
    assert fine < scratch


def test_cli_train_then_evaluate(tmp_path, capsys):
    data = tmp_path / "steps.npz"
    linear_steps(6, 120, GAIN, seed=6).save(data)
    tr.main(["--data", str(data), "--kind", "whole", "--out", str(tmp_path / "run"), "--epochs", "2"])
    assert "best eval loss" in capsys.readouterr().out
    ev.main(["--model", str(tmp_path / "run" / "best.pt"), "--data", str(data),
             "--out", str(tmp_path / "eval")])
    out = capsys.readouterr().out
    assert "open-loop MSE at 40 steps" in out
    for name in ("metrics.yaml", "joint_errors.png", "rollout.png"):
        assert (tmp_path / "eval" / name).stat().st_size > 0


class ExactLinearModel(JointWiseNDM):
    """The true dynamics in NDM clothing: checks the rollout bookkeeping, not learning."""

    def forward(self, x):
        return x[:, -1, :, 0] + GAIN * (x[:, -1, :, 1] - x[:, -1, :, 0])


def test_open_loop_rollout_of_exact_model_has_zero_error():
    steps = linear_steps(3, 100, GAIN, seed=8)
    errors = ev.rollout_errors(ExactLinearModel(ModelConfig("joint", 10, 8, 1)), steps)
    assert sorted(errors) == list(ev.HORIZONS)
    assert max(float(v.max()) for v in errors.values()) < 1e-12
    # starts must leave room for the history and 40 steps inside one 100-step segment
    assert len(ev.rollout_starts(steps, 10, 40)) == 3 * (100 - 10 - 40 + 1)


def test_rollout_feeds_predictions_back():
    steps = linear_steps(1, 80, GAIN, seed=9)
    class Frozen(JointWiseNDM):          # predicts "no motion": error must grow with horizon
        def forward(self, x):
            return x[:, -1, :, 0]

    errors = ev.rollout_errors(Frozen(ModelConfig("joint", 10, 8, 1)), steps)
    assert errors[40].mean() > errors[5].mean() > errors[1].mean() > 0


def test_a_save_killed_midway_leaves_the_previous_model(tmp_path, monkeypatch):
    path = tmp_path / "best.pt"
    save_model(build_model("joint", width=8), path)
    before = load_model(path).state_dict()

    def torn(obj, f):                                    # writes part of the file, then the process dies
        with open(f, "wb") as out:
            out.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", torn)
    with pytest.raises(KeyboardInterrupt):
        save_model(build_model("joint", width=8), path)
    after = load_model(path).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
