"""NDM data from simulation (Chaos Box replay, free hand, rotation rollouts) and the
generalization study pipeline on tiny sizes."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from dexndm_learning import joint_order as jo
from dexndm_learning.data.replay_targets import action_targets, replay_targets
from dexndm_learning.data.rollout_dataset import RolloutWriter
from dexndm_learning.ndm import sim_data as sd
from dexndm_learning.studies.ndm_generalization import Study, StudyConfig
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.reality import RealityProfile
from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv
from dexndm_learning.sim.wrist import wrist_quat


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def smooth_actions(k, t, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(np.cumsum(rng.normal(0, 0.15, (k, t, 16)), axis=1), -1, 1)


def trajectories(k, t, seed=0):
    return sd.ActionTrajectories(smooth_actions(k, t, seed), np.tile(jo.CANONICAL_GRASP, (k, 1)))


def test_replay_noise_hits_half_the_trajectories_with_the_given_sigma():
    actions = 0.2 * smooth_actions(2000, 50)              # stays clear of the limits: no clamping
    start = np.tile(jo.CANONICAL_GRASP, (2000, 1))
    targets, noisy = replay_targets(actions, start, 0.01, 0.5, np.random.default_rng(1))
    assert abs(noisy.mean() - 0.5) < 0.04
    diff = targets - action_targets(actions, start)      # radians on every replayed target
    assert np.all(diff[~noisy] == 0)
    assert abs(diff[noisy].std() / 0.01 - 1) < 0.02 and abs(diff[noisy].mean()) < 1e-4


def test_replay_targets_follow_the_env_rule_and_stay_within_limits():
    actions = 5 * smooth_actions(20, 200, seed=2)         # saturating actions drive joints to the limits
    start = np.tile(jo.CANONICAL_GRASP, (20, 1))
    targets = action_targets(actions, start)
    assert jo.within_limits(targets)
    assert np.any(np.isclose(targets, jo.UPPER) | np.isclose(targets, jo.LOWER))
    np.testing.assert_allclose(targets[:, 0], jo.clip_to_limits(start + np.clip(actions[:, 0], -1, 1) / 24))
    assert np.abs(np.diff(targets, axis=1)).max() <= 1 / 24 + 1e-12


def test_chaos_box_steps_have_one_segment_per_trajectory():
    tr = trajectories(3, 20)
    steps = sd.chaos_box_steps("worn_hand", "palm_down", tr, noise_prob=0.0, seed=3, n_balls=20)
    assert len(steps) == 60
    np.testing.assert_array_equal(np.bincount(steps.segment), [20, 20, 20])
    np.testing.assert_allclose(steps.a, action_targets(tr.actions, tr.start).reshape(-1, 16), atol=1e-6)
    assert jo.within_limits(steps.a)
    np.testing.assert_array_equal(sd.chaos_box_steps("worn_hand", "palm_down", tr, seed=3, n_balls=20).segment,
                                  steps.segment)


def test_free_hand_steps_record_the_measured_positions():
    tr = trajectories(2, 15)
    exact = sd.free_hand_steps(RealityProfile(), "thumb_up", tr, seed=0)
    biased = sd.free_hand_steps(RealityProfile(sensor_bias=0.05), "thumb_up", tr, seed=0)
    np.testing.assert_allclose(biased.q - exact.q, 0.05, atol=1e-5)
    np.testing.assert_array_equal(biased.a, exact.a)


def test_rollout_steps_give_one_segment_per_episode_until_it_ends():
    cfg = EnvConfig(object_set="normal_cylinders", grasp=GraspConfig(candidates=16),
                    **sd.task_env_overrides("worn_hand", "palm_down", episode_steps=40, num_envs=3))
    env = RotationEnv(cfg)

    def open_hand(obs):       # the object falls out of the palm-down hand: episodes end early
        return -np.sign(env.targets - jo.OPEN_POSE)

    steps = sd.rollout_steps(env, open_hand, episodes=4)
    lengths = np.bincount(steps.segment)
    assert len(lengths) == 4 and lengths.sum() == len(steps)
    assert np.all(lengths <= 40) and np.any(lengths < 40)
    assert jo.within_limits(steps.a)
    with pytest.raises(ValueError, match="joint_noise"):
        sd.measured_q(SimpleNamespace(cfg=SimpleNamespace(joint_noise=0.005)))


def test_open_loop_actor_plays_trajectories_batch_by_batch():
    actions = np.arange(3 * 2 * 16, dtype=float).reshape(3, 2, 16)
    act = sd.open_loop_actor(actions, num_envs=2)
    calls = [act(None) for _ in range(4)]
    np.testing.assert_array_equal(calls[1], actions[[0, 1], 1])
    np.testing.assert_array_equal(calls[2], actions[[2, 0], 0])


def write_rollouts(root, episodes=8, steps=60):
    writer = RolloutWriter(root, steps=steps)
    for actions in smooth_actions(episodes, steps, seed=5):
        writer.add(q=np.tile(jo.CANONICAL_GRASP, (steps + 1, 1)), targets=np.tile(jo.CANONICAL_GRASP, (steps + 1, 1)),
                   actions=actions, obj_pos=np.zeros((steps + 1, 3)), obj_quat=np.tile([1.0, 0, 0, 0], (steps + 1, 1)),
                   axis=[0, 0, 1.0], wrist=wrist_quat("palm_up"), object_id=0)
    writer.close()


def test_generalization_pipeline_writes_the_tables(tmp_path):
    write_rollouts(tmp_path / "rollouts")
    assert len(sd.rollout_actions(tmp_path / "rollouts", wrist="palm_up").actions) == 8
    assert len(sd.rollout_actions(tmp_path / "rollouts", wrist="palm_down").actions) == 0
    cfg = StudyConfig(box_wrists=["palm_down"], traj_steps=60, train_sizes={"low": 2, "high": 4},
                      test_trajectories=2, chunk=2, n_balls=20, rotation_episodes=2, rotation_steps=60, num_envs=2,
                      width=16, epochs=2, batch_size=64, threads=1)
    out, work = tmp_path / "out", tmp_path / "work"
    results = Study(cfg, out, work, rollouts=tmp_path / "rollouts").run()

    assert set(results["sets"]) == {"chaos_box_test", "rotation_palm_up"}
    assert results["sets"]["rotation_palm_up"]["wrist_in_chaos_box"] is False
    assert results["train_sets"]["low"]["segments"] == 2 and results["train_sets"]["high"]["segments"] == 4
    for size in ("low", "high"):
        for kind in ("joint", "finger", "whole"):
            ev = results["models"][size][kind]["eval"]
            assert set(ev["rotation_palm_up"]["rollout"]) == {"1", "5", "10", "20", "40"}
            assert np.isfinite(ev["chaos_box_test"]["one_step"])
    table = (out / "results.md").read_text()
    assert "| low | joint-wise |" in table and "rotation_palm_up (OOD)" in table and "weaker" in table
    assert (out / "one_step_bars.png").exists() and (out / "rollout_errors.png").exists()

    # A rerun reuses the data and the trained models; other settings need another work dir.
    again = Study(cfg, out, work, rollouts=tmp_path / "rollouts").run()
    assert again["models"] == results["models"]
    assert json.loads((out / "results.json").read_text())["models"] == results["models"]
    with pytest.raises(ValueError, match="epochs"):
        Study(StudyConfig(**{**cfg.__dict__, "epochs": 3}), out, work, rollouts=tmp_path / "rollouts").run()


def test_a_policy_file_collects_on_the_studys_objects_axes_and_start(tmp_path):
    from dexndm_learning.data.rollout_dataset import RolloutDataset
    from dexndm_learning.policy.fakes import random_policy

    policy = random_policy(tmp_path / "base.pt", "base")
    cfg = StudyConfig(box_wrists=["palm_down"], rotation_wrists=["thumb_up"], traj_steps=12,
                      train_sizes={"low": 2, "high": 3}, test_trajectories=1,
                      num_envs=2, axis_set="x", start_orientation="rotation-axis", start_offset=[-0.01, 0.0, 0.0],
                      grasp_candidates=8, object_set="normal_cuboids")
    study = Study(cfg, tmp_path / "out", tmp_path / "work", policy_run=policy)
    env, act = study.policy_actor(2, {"episode_steps": 12})
    grasp = env.cfg.grasp
    assert env.cfg.object_set == "normal_cuboids" and env.cfg.axis_set == "x" and env.cfg.wrists == ["thumb_up"]
    assert grasp.object_orientation == "axis" and grasp.object_axis == (1.0, 0.0, 0.0)
    assert grasp.centre_offset == (-0.01, 0.0, 0.0) and grasp.candidates == 8
    env.reset(np.arange(2))
    assert act(env.observations()).shape == (2, 16)
    env.stepper.close()
    study.action_pool()                                    # collected with the policy file
    axes = np.concatenate([s["axis"] for s in RolloutDataset.open(tmp_path / "work" / "rollouts").iter_shards(("axis",))])
    assert len(axes) >= 4 and np.allclose(np.abs(axes), [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="more than one axis line"):
        Study(StudyConfig(axis_set="xyz", start_orientation="rotation-axis"), tmp_path / "o2", tmp_path / "w2",
              policy_run=policy)
    with pytest.raises(FileNotFoundError, match="--policy-run: .*nope.pt does not exist"):
        Study(cfg, tmp_path / "o3", tmp_path / "w3", policy_run=tmp_path / "nope.pt")
    # another policy file at the same path: the work folder (its rollouts) is refused, not reused
    study._check_work_dir()
    random_policy(policy, "base", seed=1)
    with pytest.raises(ValueError, match="policy_sha256"):
        Study(cfg, tmp_path / "out", tmp_path / "work", policy_run=policy)._check_work_dir()
