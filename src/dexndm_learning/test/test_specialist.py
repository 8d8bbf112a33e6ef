import csv

import numpy as np
import pytest
import torch

from dexndm_learning.rl.specialist import PPOConfig, SpecialistConfig, load_checkpoint, make_runner, train
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig


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
    train(tiny_config(25), tmp_path / "run")
    rows = list(csv.DictReader((tmp_path / "run" / "progress.csv").open()))
    rewards = np.array([float(r["mean_reward"]) for r in rows])
    assert len(rewards) == 25
    # Until one episode length has passed (100 steps = ~6 iterations of 16) the episodes are
    # young and have not had time to drop; compare from there on.
    assert rewards[-5:].mean() > rewards[6:11].mean() + 0.05, rewards
    assert (tmp_path / "run" / "config.yaml").exists() and (tmp_path / "run" / "git_commit.txt").exists()


def test_checkpoint_round_trip_and_resume(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(2), run)
    runner_a, env_a = make_runner(SpecialistConfig.load(str(run / "config.yaml")))
    state = load_checkpoint(runner_a, run / "checkpoint.pt")
    assert state["iter"] == 1 and state["env_steps"] == 2 * 64 * 16
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
