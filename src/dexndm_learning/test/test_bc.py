import numpy as np
import pytest
import torch

from dexndm_learning.bc.collect import NoSuccessfulEpisodes, collect
from dexndm_learning.bc.train import BCConfig, train
from dexndm_learning.data.rollout_dataset import RolloutDataset, RolloutWriter, proprio_obs
from dexndm_learning import joint_order
from dexndm_learning.policy.artifact import ArtifactError, load_policy
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig, RotationEnv


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def small_env_config():
    return EnvConfig(num_envs=6, episode_steps=20, joint_noise=0.0, disturbance_prob=0.0,
                     randomization=RandomizationConfig(enabled=False), grasp=GraspConfig(candidates=24))


@pytest.fixture(scope="module")
def small_env():
    return RotationEnv(small_env_config())


def test_collected_dataset_rebuilds_the_observations_the_policy_saw(small_env, tmp_path):
    seen = []
    rng = np.random.default_rng(0)

    def act(obs):
        seen.append(obs["proprio"].copy())
        return rng.normal(0, 0.2, (small_env.num_envs, 16))

    result = collect(small_env, act, tmp_path / "ds", episodes=4)
    assert result["episodes"] == 4
    ds = RolloutDataset.open(tmp_path / "ds")
    shard = ds.shard(0)
    # The kept episodes are a subset of the batch; match them through their first observation.
    seen = np.stack(seen, axis=1)                                            # (envs, T, obs)
    rebuilt = proprio_obs(np.asarray(shard["q"]), np.asarray(shard["targets"]), np.asarray(shard["wrist"]),
                          np.asarray(shard["axis"]), np.tile(np.arange(20), (4, 1)))
    for e in range(4):
        env_idx = int(np.argmin(np.abs(seen[:, 0] - rebuilt[e, 0]).sum(-1)))
        np.testing.assert_allclose(rebuilt[e], seen[env_idx], atol=1e-5)


def test_collection_stops_after_max_batches(small_env, tmp_path):
    """A policy that rarely keeps the object would otherwise never reach the episode count."""
    result = collect(small_env, lambda obs: np.zeros((small_env.num_envs, 16)), tmp_path / "ds", episodes=100,
                     max_batches=2)
    assert result["tried_this_run"] == 2 * small_env.num_envs and result["episodes"] <= 2 * small_env.num_envs


class DropsEverything:
    """The env with every episode ending in a drop."""

    def __init__(self, env):
        self.env = env

    def __getattr__(self, name):
        return getattr(self.env, name)

    def step(self, actions):
        obs, reward, done, info = self.env.step(actions)
        return obs, reward, done, {**info, "dropped": np.ones(self.env.num_envs, bool)}


def test_collection_gives_up_on_a_policy_that_keeps_no_object_and_keeps_what_it_wrote(small_env, tmp_path):
    still = lambda obs: np.zeros((small_env.num_envs, 16))                  # noqa: E731
    collect(small_env, still, tmp_path / "ds", episodes=2)
    with pytest.raises(NoSuccessfulEpisodes, match=f"none of {2 * small_env.num_envs} episodes"):
        collect(DropsEverything(small_env), still, tmp_path / "ds", episodes=10, resume=True, give_up_after=2,
                max_batches=50)                                              # a broken guard fails, not hangs
    assert RolloutDataset.open(tmp_path / "ds").episodes == 2
    dagger = collect(DropsEverything(small_env), still, tmp_path / "dagger", episodes=3, give_up_after=1,
                     label=still)                                            # DAgger keeps every episode
    assert dagger["episodes"] == 3


def write_teacher_dataset(root, episodes=24, steps=20, seed=0):
    """Episodes whose joint positions are drawn afresh every step and whose action is a fixed
    smooth function of the newest one: learnable only from the right step's observation."""
    rng = np.random.default_rng(seed)
    mid, half = (joint_order.LOWER + joint_order.UPPER) / 2, (joint_order.UPPER - joint_order.LOWER) / 2
    mix = rng.normal(0, 1.0, (16, 16)) / 4
    writer = RolloutWriter(root, steps=steps, shard_episodes=episodes)
    for _ in range(episodes):
        q = mid + half * rng.uniform(-0.8, 0.8, (steps + 1, 16))
        targets = q + rng.normal(0, 0.01, q.shape)
        actions = np.tanh(((q[:steps] - mid) / half) @ mix)
        writer.add(q=q, targets=targets, actions=actions, obj_pos=np.zeros((steps + 1, 3)),
                   obj_quat=np.tile([1.0, 0, 0, 0], (steps + 1, 1)), axis=[0, 0, 1.0], wrist=[1.0, 0, 0, 0], object_id=0)
    writer.close()
    return actions.var()


def test_bc_learns_a_teacher_and_the_export_matches_the_network(tmp_path):
    variance = write_teacher_dataset(tmp_path / "ds")
    cfg = BCConfig(width=64, blocks=1, epochs=8, batch_size=128, samples_per_epoch=5120, lr=2e-3, joint_noise=0.0,
                   data=[str(tmp_path / "ds")])
    result = train(cfg, tmp_path / "bc")
    assert result["best_val_loss"] < 0.2 * variance, (result["best_val_loss"], variance)
    policy = load_policy(tmp_path / "bc" / "policy.pt")
    assert policy.kind == "base" and policy.spec.history == 10
    # The training-time network (best epoch) on recorded inputs vs the loaded artifact.
    net = ResidualMLP(policy.obs_dim, 16, width=64, blocks=1)
    net.load_state_dict(result["best_state"])
    x = proprio_obs(*(np.asarray(RolloutDataset.open(tmp_path / "ds").shard(0)[k]) for k in ("q", "targets", "wrist", "axis")),
                    np.tile(np.arange(20), (24, 1))).reshape(-1, policy.obs_dim).astype(np.float32)
    with torch.no_grad():
        expected = net((torch.from_numpy(x) - torch.from_numpy(result["obs_mean"])) / torch.from_numpy(result["obs_std"]))
    np.testing.assert_allclose(policy(x), expected.clamp(-1, 1).numpy(), atol=1e-5)


def test_export_rejects_foreign_files(tmp_path):
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(ArtifactError, match="x.pt"):
        load_policy(tmp_path / "x.pt")
    assert ResidualMLP(8, 2, width=4, blocks=1)(torch.zeros(1, 8)).shape == (1, 2)


def _synthetic_dataset(root, axes, specialist, steps=5, lengths=None, **meta):
    """Episodes of zeros whose only distinguishing fields are the commanded axis and the length."""
    from dexndm_learning.data.rollout_dataset import RolloutWriter
    writer = RolloutWriter(root, steps=steps, meta={"specialist": specialist, **meta})
    for axis, length in zip(axes, lengths or [steps] * len(axes)):
        writer.add(q=np.zeros((steps + 1, 16)), targets=np.zeros((steps + 1, 16)), actions=np.zeros((steps, 16)),
                   obj_pos=np.zeros((steps + 1, 3)), obj_quat=np.tile([1.0, 0, 0, 0], (steps + 1, 1)),
                   axis=np.asarray(axis, float), wrist=np.array([1.0, 0, 0, 0]), object_id=0, length=length)
    writer.close()


def test_balanced_sampling_gives_every_specialist_and_axis_the_same_share(tmp_path):
    from dexndm_learning.data.episode_bank import EpisodeBank
    _synthetic_dataset(tmp_path / "a", [[0, 0, -1]] * 9 + [[0, 0, 1]], "a")   # 9 -z episodes, 1 +z
    _synthetic_dataset(tmp_path / "a_plusz", [[0, 0, 1]] * 3, "a")           # a +z top-up of the same specialist
    _synthetic_dataset(tmp_path / "b", [[0, 0, 1]] * 2, "b")                 # another specialist
    bank = EpisodeBank([tmp_path / "a", tmp_path / "a_plusz", tmp_path / "b"])
    w = bank.group_weights()
    assert w.shape == (15,) and np.isclose(w.sum(), 1.0)
    np.testing.assert_allclose([w[:9].sum(), w[9:13].sum(), w[13:].sum()], [1 / 3] * 3)
    np.testing.assert_allclose(w[9:13], w[9])                                  # +z of "a": one group


def test_dagger_records_the_labels_on_the_students_states_and_cuts_episodes_at_their_drop(tmp_path):
    import dataclasses
    # 1 cm of object motion counts as a drop, so episodes end early.
    env = RotationEnv(dataclasses.replace(small_env_config(), drop_distance=0.01))
    student = lambda obs: np.full((env.num_envs, 16), 0.2)          # noqa: E731  closes every joint
    teacher = lambda obs: np.full((env.num_envs, 16), -0.8)         # noqa: E731  would open them
    result = collect(env, student, tmp_path / "dagger", episodes=6, label=teacher)
    assert result["kept_this_run"] == 6                               # every episode kept, dropped or not
    ds = RolloutDataset.open(tmp_path / "dagger")
    assert ds.meta["partial_episodes"] is True
    shard = {k: np.asarray(v) for k, v in ds.shard(0).items()}
    np.testing.assert_allclose(shard["actions"], -0.8)               # the teacher's labels
    long = shard["length"] > 3                                       # the student's actions drove: +0.2/24 a step
    assert long.any()
    np.testing.assert_allclose((shard["targets"][long, 3] - shard["targets"][long, 0]).mean(-1), 3 * 0.2 / 24, atol=0.005)
    assert 1 <= shard["length"].min() and shard["length"].min() < 20    # at least one episode dropped early
    with pytest.raises(Exception, match="dagger"):
        RolloutDataset.open(tmp_path / "dagger").require_full_episodes("residual training")


def test_bc_samples_only_the_steps_before_an_episodes_drop(tmp_path):
    from dexndm_learning.data.episode_bank import EpisodeBank
    _synthetic_dataset(tmp_path / "ds", [[0, 0, 1.0]] * 2, "a", steps=50, lengths=[3, 50], partial_episodes=True)
    bank = EpisodeBank([tmp_path / "ds"])
    steps = bank.sample_steps(np.array([0] * 500 + [1] * 500), np.random.default_rng(0))
    assert steps[:500].max() == 2 and steps[500:].max() > 40
    with pytest.raises(ValueError, match="ds"):
        EpisodeBank([tmp_path / "ds"], purpose="residual training")


def test_bc_continues_from_a_policy_artifact(small_env, tmp_path):
    """--init: weights and input normalization come from the artifact (lr 0 leaves it unchanged)."""
    rng = np.random.default_rng(2)
    collect(small_env, lambda obs: rng.normal(0, 0.2, (small_env.num_envs, 16)), tmp_path / "ds", episodes=6)
    base = dict(blocks=1, epochs=1, batch_size=64, samples_per_epoch=128, data=[str(tmp_path / "ds")])
    train(BCConfig(width=32, **base), tmp_path / "first")
    train(BCConfig(width=8, lr=0.0, init=str(tmp_path / "first" / "policy.pt"), seed=5, **base), tmp_path / "again")
    first, again = load_policy(tmp_path / "first" / "policy.pt"), load_policy(tmp_path / "again" / "policy.pt")
    assert again.net.arch["width"] == 32
    x = np.random.default_rng(3).normal(size=(5, first.obs_dim)).astype(np.float32)
    np.testing.assert_allclose(again(x), first(x), atol=1e-6)
