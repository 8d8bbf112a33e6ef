import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_learning.rl.specialist import PPOConfig, SpecialistConfig, load_checkpoint, make_runner, train
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig
from dexndm_learning.sim.rotation_reward import RewardConfig

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def tiny_config(iterations: int) -> SpecialistConfig:
    # No disturbances or randomization: in 25 iterations of 64 envs the one-off drop penalties
    # of a randomized world are noise that can hide what PPO learns.
    return SpecialistConfig(
        env=EnvConfig(num_envs=64, episode_steps=100, grasp=GraspConfig(candidates=24), disturbance_prob=0.0,
                      randomization=RandomizationConfig(enabled=False)),
        ppo=PPOConfig(steps_per_env=16, actor_hidden=[64, 64], critic_hidden=[64, 64]),
        iterations=iterations, checkpoint_minutes=60.0)


def test_ppo_improves_reward_on_a_tiny_run(tmp_path):
    # A task PPO can learn in under a minute: keep the hand near its grasp pose (the pose penalty
    # alone; init std 0.3). With the full reward, 25 iterations of 64 envs showed no trend on this
    # machine (drops and rotation are noise at this scale), so that test passed or failed by the
    # CPU's floating point.
    cfg = tiny_config(40)
    pose_only = RewardConfig(a_rot=0, a_goal=0, a_rotp_max=0, a_lin=0, a_work=0, a_torque=0, drop_penalty=0, g_bonus=0)
    cfg = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, reward=pose_only),
                              ppo=dataclasses.replace(cfg.ppo, init_std=0.3))
    train(cfg, tmp_path / "run")
    rows = list(csv.DictReader((tmp_path / "run" / "progress.csv").open()))
    rewards = np.array([float(r["mean_reward"]) for r in rows])
    assert len(rewards) == 40
    # Until one episode length has passed (100 steps = ~6 iterations of 16) the episodes are
    # young and have not had time to drop; compare from there on.
    assert rewards[-5:].mean() > rewards[6:11].mean() + 0.05, rewards
    assert (tmp_path / "run" / "config.yaml").exists() and (tmp_path / "run" / "git_commit.txt").exists()


def test_checkpoint_round_trip_and_resume(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(2), run)
    runner_a, env_a = make_runner(SpecialistConfig.load(str(run / "config.yaml")))
    state = load_checkpoint(runner_a, run / "checkpoint.pt")
    assert state["iter"] == 1 and state["env_steps"] == 2 * 64 * 16 and state["hand_version"] == HandConfig.load().version
    # the rotation-penalty curriculum (counted in resets) continues where it was, not from zero
    assert state["resets_per_env"] > 0 and env_a.env.resets.mean() == round(state["resets_per_env"])
    runner_b, _ = make_runner(SpecialistConfig.load(str(run / "config.yaml")))
    load_checkpoint(runner_b, run / "checkpoint.pt")
    obs = env_a.get_observations()
    with torch.inference_mode():
        a = runner_a.get_inference_policy()(obs)
        b = runner_b.get_inference_policy()(obs)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    summary = train(tiny_config(2), run, resume=True, iterations=4)     # continues at iteration 2
    assert summary["iteration"] == 3 and summary["env_steps"] == 4 * 64 * 16
    rows = list(csv.DictReader((run / "progress.csv").open()))
    assert [int(r["iteration"]) for r in rows] == [0, 1, 2, 3]


def test_wall_limit_stops_the_run_and_keeps_snapshots(tmp_path, capsys):
    run = tmp_path / "run"
    cfg = dataclasses.replace(tiny_config(50), budget_minutes=1e-6, snapshot_minutes=[0.0, 1e-7, 600.0])
    summary = train(cfg, run)
    assert summary["wall_limit"] and summary["iteration"] == 0          # stopped after its first iteration
    err = capsys.readouterr().err
    assert "/1e-06 min" in err and "/50 [" not in err                  # the bar counts the budget, not iterations
    assert (run / "checkpoint_0min.pt").exists() and (run / "checkpoint_1e-07min.pt").exists()
    assert not (run / "checkpoint_600min.pt").exists()
    state = torch.load(run / "checkpoint_0min.pt", weights_only=False)
    assert state["iter"] == 0
    again = train(cfg, run, resume=True)                                # budget already spent: no training
    assert again["wall_limit"] and again["iteration"] == 0 and again["env_steps"] == summary["env_steps"]


def test_warm_start_copies_the_weights_but_not_the_step_count(tmp_path):
    from dexndm_learning.rl.specialist import warm_start

    train(tiny_config(1), tmp_path / "a")
    runner_a, env_a = make_runner(tiny_config(1))
    load_checkpoint(runner_a, tmp_path / "a" / "checkpoint.pt")
    runner_b, _ = make_runner(dataclasses.replace(tiny_config(1), init_checkpoint=str(tmp_path / "a" / "checkpoint.pt")))
    warm_start(runner_b, tmp_path / "a" / "checkpoint.pt")
    obs = env_a.get_observations()
    with torch.inference_mode():
        torch.testing.assert_close(runner_a.get_inference_policy()(obs), runner_b.get_inference_policy()(obs))
    summary = train(dataclasses.replace(tiny_config(1), init_checkpoint=str(tmp_path / "a" / "checkpoint.pt")),
                    tmp_path / "b")
    assert summary["iteration"] == 0 and summary["env_steps"] == 64 * 16


def test_critic_warmup_changes_the_critic_alone_then_the_actor_too(tmp_path):
    train(tiny_config(1), tmp_path / "a")
    teacher = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    cfg = dataclasses.replace(tiny_config(3), init_checkpoint=str(tmp_path / "a" / "checkpoint.pt"),
                              critic_warmup_iterations=2)
    train(dataclasses.replace(cfg, iterations=2), tmp_path / "b")
    warm = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    actor_weights = [k for k in teacher["actor_state_dict"] if "normalizer" not in k]
    assert len(actor_weights) > 2              # the MLP's weights and the action std
    for k in actor_weights:
        torch.testing.assert_close(warm["actor_state_dict"][k], teacher["actor_state_dict"][k], rtol=0, atol=0)
    assert any(not torch.equal(warm["critic_state_dict"][k], v) for k, v in teacher["critic_state_dict"].items())
    # the learning rate the KL rule adapts stays put while the actor is held
    assert warm["optimizer_state_dict"]["param_groups"][0]["lr"] == cfg.ppo.learning_rate
    train(cfg, tmp_path / "b", resume=True)    # iteration 2: past the warm-up, the actor learns
    after = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert any(not torch.equal(after["actor_state_dict"][k], teacher["actor_state_dict"][k]) for k in actor_weights)


def test_a_critic_warmup_without_a_warm_start_is_a_config_error():
    with pytest.raises(ValueError, match="critic_warmup_iterations: 5 needs a warm start"):
        dataclasses.replace(tiny_config(1), critic_warmup_iterations=5)


def test_a_critic_only_update_keeps_the_learning_rate_when_rounding_makes_the_kl_positive():
    from dexndm_learning.rl.specialist import critic_only_update

    cfg = tiny_config(1)
    runner, env = make_runner(cfg)
    alg = runner.alg
    alg.train_mode()
    obs = env.get_observations()
    with torch.inference_mode():
        for _ in range(cfg.ppo.steps_per_env):
            obs, rewards, dones, extras = env.step(alg.act(obs))
            alg.process_env_step(obs, rewards, dones, extras)
        alg.compute_returns(obs)
    # a held actor's KL is 0 on this CPU; another device may round it to a tiny positive value,
    # which the adaptive rule answers by raising the rate 1.5x per mini-batch
    alg.actor.get_kl_divergence = lambda old, new: torch.full((1,), 1e-12)
    critic_only_update(alg)
    assert alg.learning_rate == cfg.ppo.learning_rate
    assert all(g["lr"] == cfg.ppo.learning_rate for g in alg.optimizer.param_groups)


def test_the_update_runs_on_update_threads_and_collection_goes_back_to_torch_threads():
    from dexndm_learning.rl.specialist import ppo_update

    seen = []

    class Alg:
        def update(self):
            seen.append(torch.get_num_threads())
            return {}

    cfg = dataclasses.replace(tiny_config(1), torch_threads=1, update_threads=2)
    torch.set_num_threads(cfg.torch_threads)
    ppo_update(cfg, Alg(), 0)
    assert seen == [2] and torch.get_num_threads() == 1


def test_a_thread_count_below_one_is_a_config_error():
    with pytest.raises(ValueError, match="update_threads \\(0\\)"):
        dataclasses.replace(tiny_config(1), update_threads=0)


def test_the_time_spent_making_a_warm_start_counts_against_the_budget(tmp_path):
    train(tiny_config(1), tmp_path / "a")
    cfg = dataclasses.replace(tiny_config(50), init_checkpoint=str(tmp_path / "a" / "checkpoint.pt"),
                              init_minutes=5.0, budget_minutes=5.0 + 1e-6, snapshot_minutes=[4.0])
    summary = train(cfg, tmp_path / "b")
    assert summary["wall_limit"] and summary["iteration"] == 0 and summary["budget_s"] >= 300
    assert (tmp_path / "b" / "checkpoint_4min.pt").exists()


def test_every_shipped_specialist_config_loads_strictly_and_names_known_objects_wrists_and_axes():
    from dexndm_learning.config import config_dir
    from dexndm_learning.sim.axes import axis_set
    from dexndm_learning.sim.objects import SET_NAMES
    from dexndm_learning.sim.wrist import NAMED_WRISTS

    paths = sorted((config_dir() / "specialists").rglob("*.yaml"))
    assert len(paths) >= 10
    for path in paths:
        cfg = SpecialistConfig.load(str(path))            # unknown keys raise
        assert cfg.env.object_set in SET_NAMES, path
        assert set(cfg.env.wrists) <= {*NAMED_WRISTS, "random"}, path
        assert len(axis_set(cfg.env.axis_set)) >= 1, path
        assert len(cfg.env.grasp.centre_offset) == 3, path
        assert cfg.init_checkpoint is None or (ROOT / cfg.init_checkpoint).is_file(), (path, cfg.init_checkpoint)
