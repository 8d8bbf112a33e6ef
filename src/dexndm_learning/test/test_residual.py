"""Residual policy: output bound, training through a known NDM, export, magnitude report, and
base + residual in RotationEnv."""
import dataclasses
import json

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from dexndm_learning import joint_order
from dexndm_learning.data.rollout_dataset import RolloutDataset, RolloutWriter, proprio_obs
from dexndm_learning.ndm.config import NdmConfig, TrainConfig
from dexndm_learning.ndm.models import ModelConfig, load_model
from dexndm_learning.ndm.synthetic import linear_steps
from dexndm_learning.policy.artifact import PolicySpec, load_policy, save_policy
from dexndm_learning.policy import contract
from dexndm_learning.policy.contract import obs_dim
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.residual import deploy, sim2sim
from dexndm_learning.residual.train import (BoundedResidual, ResidualConfig, chunk_starts, ndm_windows,
                                            train)
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig, RotationEnv

torch.set_num_threads(1)
BASE_OBS_DIM = obs_dim()
RES_DIM = BASE_OBS_DIM + 16
BOUND = contract.RESIDUAL_CAP
HAND = HandConfig.load().version           # the default environment's hand
SIM_GAIN, WORLD_GAIN = 0.5, 0.45    # first-order tracking: q' = q + gain (command - q)
OFFSET = np.array([(-1) ** j * 0.002 * (j + 1) for j in range(16)])   # distinct per-joint magnitudes
WINDOW, T, EPISODES = 3, 40, 48


class GapWorld(nn.Module):
    """A known target world with the NDM interface: weaker gains and a per-joint target offset,
    q' = q + WORLD_GAIN (a + OFFSET - q). Matching the sim step q + SIM_GAIN (a - q) needs
    a_res = (SIM_GAIN / WORLD_GAIN - 1)(a - q) - OFFSET."""

    def forward(self, x):
        q, a = x[:, -1, :, 0], x[:, -1, :, 1]
        return q + WORLD_GAIN * (a + torch.as_tensor(OFFSET, dtype=x.dtype) - q)


def needed_residual(q, a):
    return (SIM_GAIN / WORLD_GAIN - 1) * (a - q) - OFFSET


def write_sim_rollouts(root, seed=0):
    """Episodes of the sim dynamics under sinusoidal targets in the middle of the joint range;
    one random phase per episode (fixed offsets between joints) keeps the inputs on a
    low-dimensional set that a few dozen episodes cover."""
    rng = np.random.default_rng(seed)
    mid, half = (joint_order.LOWER + joint_order.UPPER) / 2, (joint_order.UPPER - joint_order.LOWER) / 2
    writer = RolloutWriter(root, steps=T, shard_episodes=10, meta={"hand_version": HAND})
    for _ in range(EPISODES):
        phase = rng.uniform(0, 2 * np.pi) + np.arange(16)
        targets = mid + 0.4 * half * np.sin(0.03 * np.arange(T + 1)[:, None] + phase)
        q = np.empty_like(targets)
        q[0] = targets[0]
        for t in range(T):
            q[t + 1] = q[t] + SIM_GAIN * (targets[t + 1] - q[t])
        writer.add(q=q, targets=targets, actions=24 * np.diff(targets, axis=0), obj_pos=np.zeros((T + 1, 3)),
                   obj_quat=np.tile([1.0, 0, 0, 0], (T + 1, 1)), axis=[0, 0, 1.0], wrist=[1.0, 0, 0, 0], object_id=0)
    writer.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("residual")
    write_sim_rollouts(root / "sim")
    cfg = ResidualConfig(width=64, blocks=1, epochs=40, chunk=16, batch_chunks=16, lr=3e-3,
                         joint_noise=0.0, val_fraction=0.2, evals_per_epoch=1, torch_threads=1,
                         data=[str(root / "sim")])
    result = train(cfg, GapWorld(), WINDOW, root / "run", progress=False)
    return root, cfg, result


def test_chunks_predict_every_step_once_and_windows_end_at_their_step():
    for steps, window, chunk in [(400, 10, 32), (40, 3, 16), (20, 10, 20), (25, 5, 7)]:
        predicted = np.concatenate([np.arange(s + window - 1, s + chunk) for s in chunk_starts(steps, window, chunk)])
        assert set(predicted) == set(range(window - 1, steps)) and predicted.max() == steps - 1
    q = torch.arange(2 * 6 * 16, dtype=torch.float32).reshape(2, 6, 16)
    x = ndm_windows(q, -q, 4).reshape(2, 3, 4, 16, 2)                  # windows ending at steps 3, 4, 5
    torch.testing.assert_close(x[1, 2, :, :, 0], q[1, 2:6])
    torch.testing.assert_close(x[0, 0, :, :, 1], -q[0, 0:4])


def test_bound_holds_on_extreme_inputs(tmp_path):
    torch.manual_seed(0)
    net = ResidualMLP(RES_DIM, 16, width=32, blocks=2)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(50.0)                                               # an adversarially large network
    save_policy(tmp_path / "res.pt", "residual", net,
                PolicySpec(10, np.zeros(RES_DIM), np.full(RES_DIM, 1e-3), 1 / 24, residual_bound=BOUND, hand_version=HAND))
    policy = load_policy(tmp_path / "res.pt")
    rng = np.random.default_rng(0)
    for scale in (1.0, 1e3, 1e6, 1e12, 1e30, np.finfo(np.float32).max):
        obs = rng.choice([-1.0, 1.0], (64, BASE_OBS_DIM)) * scale * rng.uniform(0, 1, (64, BASE_OBS_DIM))
        base = rng.choice([-1.0, 1.0], (64, 16)) * scale
        res = deploy.bounded_residual(policy, obs, base)
        assert np.isfinite(res).all() and np.abs(res).max() <= BOUND
        if scale <= 1e6:       # the network itself stays finite here; tanh alone keeps the bound
            raw = policy(np.concatenate([obs, base], -1))
            assert np.abs(raw).max() <= np.float32(BOUND)
            np.testing.assert_array_equal(res, np.clip(raw, -BOUND, BOUND))


def test_residual_learns_the_correction_of_a_known_world(trained):
    root, cfg, result = trained
    assert result["best_val_loss"] < 0.1 * result["zero_residual_val_loss"]
    policy = load_policy(root / "run" / "residual.pt")
    ds = RolloutDataset.open(root / "sim")
    q, targets, wrist, axis = (np.concatenate([np.asarray(s[k]) for s in ds.iter_shards((k,))])
                               for k in ("q", "targets", "wrist", "axis"))
    t = np.tile(np.arange(WINDOW - 1, T), (len(q), 1))               # steps with a full NDM history
    obs = proprio_obs(q, targets, wrist, axis, t)
    base = targets[:, WINDOW:T + 1]
    res = policy(np.concatenate([obs, base], -1))
    want = needed_residual(q[:, WINDOW - 1:T], base)
    relative_error = np.abs(res - want).mean(axis=(0, 1)) / np.abs(want).mean(axis=(0, 1))
    assert relative_error.max() < 0.1, relative_error


def test_export_round_trip_matches_the_training_network(trained):
    root, cfg, result = trained
    policy = load_policy(root / "run" / "residual.pt")
    assert policy.kind == "residual" and policy.obs_dim == RES_DIM
    assert policy.spec.residual_bound == BOUND and policy.spec.action_scale == pytest.approx(1 / 24)
    net = ResidualMLP(RES_DIM, 16, cfg.width, cfg.blocks)
    net.load_state_dict(result["best_state"])
    x = np.random.default_rng(1).normal(0, 1, (32, RES_DIM)).astype(np.float32)
    with torch.no_grad():
        expected = BoundedResidual(net, result["obs_mean"], result["obs_std"])(torch.from_numpy(x))
    np.testing.assert_allclose(policy(x), expected.numpy(), atol=1e-6)


def test_magnitude_report_lists_both_orders(trained):
    root, _, result = trained
    report = json.loads((root / "run" / "residual_magnitude.json").read_text())
    assert report == result["magnitude"]
    mj, isaac = report["mj"], report["isaac"]
    assert mj["joints"] == list(joint_order.JOINT_NAMES)
    assert isaac["joints"] == list(joint_order.names(joint_order.Order.ISAAC))
    np.testing.assert_allclose(isaac["mean_abs_residual_rad"],
                               joint_order.convert(mj["mean_abs_residual_rad"], "mj", "isaac"))
    # the offset dominates the correction: the per-joint magnitudes follow |OFFSET| in our order
    np.testing.assert_allclose(mj["mean_abs_residual_rad"], np.abs(OFFSET), atol=2e-3)


def test_actor_offsets_the_world_command_but_not_the_observed_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path / "cache"))
    env = RotationEnv(EnvConfig(num_envs=2, object_set="normal_cylinders", episode_steps=5, joint_noise=0.0,
                                disturbance_prob=0.0, randomization=RandomizationConfig(enabled=False),
                                grasp=GraspConfig(candidates=8), nthread=1))
    torch.manual_seed(0)
    ones = (np.zeros(BASE_OBS_DIM), np.ones(BASE_OBS_DIM))
    save_policy(tmp_path / "base.pt", "base", ResidualMLP(BASE_OBS_DIM, 16, 8, 1),
                PolicySpec(10, *ones, 1 / 24, hand_version=HAND))
    res_net = ResidualMLP(RES_DIM, 16, 8, 1)
    nn.init.zeros_(res_net.out.weight)
    with torch.no_grad():
        res_net.out.bias.copy_(torch.linspace(-1, 1, 16))
    save_policy(tmp_path / "res.pt", "residual", res_net,
                PolicySpec(10, np.zeros(RES_DIM), np.ones(RES_DIM), 1 / 24, residual_bound=BOUND, hand_version=HAND))
    constant = BOUND * np.tanh(np.linspace(-1, 1, 16))
    actor = deploy.BaseResidualActor(env, tmp_path / "base.pt", tmp_path / "res.pt")
    seen = []
    monkeypatch.setattr(deploy, "bounded_residual",
                        lambda p, o, a, f=deploy.bounded_residual: seen.append(a.copy()) or f(p, o, a))
    for _ in range(3):
        before = env.targets.copy()
        obs = env.observations()
        action = actor(obs)
        env.step(action)
        base = joint_order.clip_to_limits(before + np.clip(action, -1, 1) / 24)
        # atol: the action is float32, so x / 24 here and x * (1 / 24) in the env may round apart
        np.testing.assert_allclose(env.targets, base, atol=1e-8)              # the env keeps base targets
        np.testing.assert_allclose(seen[-1], base, atol=1e-8)                 # the residual saw a_t
        np.testing.assert_allclose(env.commanded, joint_order.clip_to_limits(base + constant), atol=1e-6)
        np.testing.assert_allclose(env.a_hist[:, -1], base, atol=1e-8)        # observed history: base
    # A base-only actor leaves the world command alone.
    env.target_offset[:] = 0.0
    base_only = deploy.BaseResidualActor(env, tmp_path / "base.pt")
    before = env.targets.copy()
    action = base_only(env.observations())
    env.step(action)
    np.testing.assert_allclose(env.commanded, joint_order.clip_to_limits(before + np.clip(action, -1, 1) / 24), atol=1e-8)
    env.stepper.close()


def test_sim2sim_pipeline_compares_direct_transfer_with_both_residuals(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path / "cache"))
    root, cfg, _ = trained
    save_policy(tmp_path / "base.pt", "base", ResidualMLP(BASE_OBS_DIM, 16, 8, 1),
                PolicySpec(10, np.zeros(BASE_OBS_DIM), np.ones(BASE_OBS_DIM), 1 / 24, hand_version=HAND))
    ndm_cfg = NdmConfig(model=ModelConfig("joint", window=WINDOW, width=16, depth=1),
                        train=TrainConfig(epochs=1, batch_size=256, threads=1))
    env_cfg = EnvConfig(num_envs=2, episode_steps=8, grasp=GraspConfig(candidates=8), nthread=1)
    results = sim2sim.run_pipeline(tmp_path / "base.pt", "worn_hand", linear_steps(4, 40), cfg.data, tmp_path / "out",
                                   ["normal_cylinders"], env_cfg, seeds=(0,), ndm_cfg=ndm_cfg,
                                   residual_cfg=dataclasses.replace(cfg, epochs=1))
    variants = ["direct", "joint-wise NDM + residual", "whole-hand NDM + residual"]
    assert list(results["normal_cylinders"]) == variants
    assert load_model(tmp_path / "out" / "ndm_whole" / "best.pt").kind == "whole"
    table = (tmp_path / "out" / "sim2sim.md").read_text()
    assert all(f"| normal_cylinders | {v} |" in table for v in variants)
    assert json.loads((tmp_path / "out" / "sim2sim.json").read_text()) == json.loads(json.dumps(results))
    assert (tmp_path / "out" / "sim2sim.png").stat().st_size > 0


def _summary(rotr: float, ttf: float) -> dict:
    return {"all": {"RotR": [rotr, 1.0], "TTF": [ttf, 0.01], "RotP": [0.5, 0.01]}}


def test_compare_checks_the_bar_per_run_and_object_set(tmp_path, capsys):
    joint, whole = sim2sim.VARIANT_OF_KIND["joint"], sim2sim.VARIANT_OF_KIND["whole"]
    runs = {
        "good": {"cyl": {sim2sim.DIRECT: _summary(20, 0.6), joint: _summary(30, 0.6), whole: _summary(25, 0.7)}},
        # 1.5x direct but below the whole-hand variant; then 1.5x and best but it drops earlier
        "beaten": {"cyl": {sim2sim.DIRECT: _summary(20, 0.6), joint: _summary(30, 0.6), whole: _summary(31, 0.6)}},
        "drops": {"cyl": {sim2sim.DIRECT: _summary(20, 0.6), joint: _summary(30, 0.5), whole: _summary(25, 0.6)}},
    }
    runs["good"]["cyl"]["UAN"] = _summary(10, 0.9)
    table = sim2sim.compare_markdown(runs)
    main, every = table.split("\n\n")[0], table.split("\n\n")[-1]
    rows = {line.split(" | ")[0].strip("| "): line for line in main.splitlines()[2:]}
    assert rows["good"].endswith("| 1.50x | yes |")
    assert "| good | cyl | UAN | 10.0 ± 1.0 | 0.90 ± 0.01 | 0.50x |" in every
    assert every.count("| beaten | cyl |") == 3
    assert rows["beaten"].endswith("| no |") and rows["drops"].endswith("| no |")

    for name, results in runs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "sim2sim.json").write_text(json.dumps(results))
    assert sim2sim.main(["compare", str(tmp_path / "good"), str(tmp_path / "drops")]) == 0
    out = capsys.readouterr().out
    assert "| good | cyl |" in out and "| drops | cyl |" in out and "beaten" not in out
    with pytest.raises(SystemExit):
        sim2sim.main(["compare", str(tmp_path / "missing")])
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "sim2sim.json").write_text(json.dumps({"cyl": {sim2sim.DIRECT: _summary(1, 1)}}))
    with pytest.raises(SystemExit):
        sim2sim.main(["compare", str(tmp_path / "partial")])
    assert "run 'partial', object set 'cyl': no results for" in capsys.readouterr().err
    with pytest.raises(KeyError, match="run 'partial'.*whole-hand"):
        sim2sim.compare_markdown({"partial": {"cyl": {sim2sim.DIRECT: _summary(1, 1), joint: _summary(2, 1)}}})


def test_compare_puts_each_profiles_methods_side_by_side_in_the_papers_layout(tmp_path, capsys):
    v = sim2sim.VARIANT_OF_KIND
    runs = {"worn": {"cyl": {sim2sim.DIRECT: _summary(20, 0.6), v["joint"]: _summary(30, 0.6),
                             v["whole"]: _summary(25, 0.7), v["uan"]: _summary(21, 0.5), v["asap"]: _summary(22, 0.55)}},
            "worn_sysid": {"cyl": {sim2sim.DIRECT: _summary(20, 0.6), v["joint"]: _summary(33, 0.65),
                                   v["whole"]: _summary(26, 0.6)}},
            "paper": {"cyl": {sim2sim.DIRECT: _summary(40, 0.8), v["joint"]: _summary(44, 0.8),
                              v["whole"]: _summary(41, 0.8)}}}
    worlds = {"worn": ("worn_hand", "nominal"), "worn_sysid": ("worn_hand", "/x/identified.yaml"),
              "paper": ("paper_sysid", "nominal")}
    table = sim2sim.method_markdown(runs, worlds)
    rows = table.splitlines()
    assert rows[0].split(" | ")[2:] == list(sim2sim.METHOD_COLUMNS[:-1]) + [sim2sim.METHOD_COLUMNS[-1] + " |"]
    assert rows[2] == ("| worn_hand | cyl | 20.0 ± 1.0 / 0.60 | 20.0 ± 1.0 / 0.60 | 21.0 ± 1.0 / 0.50 | 22.0 ± 1.0 / 0.55 "
                       "| — | 25.0 ± 1.0 / 0.70 | 30.0 ± 1.0 / 0.60 | 33.0 ± 1.0 / 0.65 |")
    assert rows[3] == "| paper_sysid | cyl | 40.0 ± 1.0 / 0.80 | — | — | — | — | 41.0 ± 1.0 / 0.80 | 44.0 ± 1.0 / 0.80 | — |"
    with pytest.raises(ValueError, match="runs worn and worn2 both give worn_hand's nominal-sim rows"):
        sim2sim.method_markdown({**runs, "worn2": runs["worn"]}, {**worlds, "worn2": ("worn_hand", "nominal")})

    for name, results in runs.items():            # the command reads each run's profile and sim world
        (tmp_path / name).mkdir()
        (tmp_path / name / "sim2sim.json").write_text(json.dumps(results))
        profile, world = worlds[name]
        (tmp_path / name / "pipeline.yaml").write_text(yaml.safe_dump({"pipeline": {"sim_world": world},
                                                                        "profile": {"name": profile}}))
    assert sim2sim.main(["compare", *(str(tmp_path / n) for n in runs)]) == 0
    out = capsys.readouterr().out
    assert rows[2] in out and rows[3] in out and "| worn_sysid | cyl | joint-wise NDM + residual | 33.0" in out
