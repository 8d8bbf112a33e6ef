import numpy as np
import pytest

from dexndm_learning.data.rollout_dataset import DatasetError, RolloutDataset, RolloutWriter, proprio_obs

T = 12


def episode(rng, i):
    return dict(q=rng.normal(size=(T + 1, 16)), targets=rng.normal(size=(T + 1, 16)), actions=rng.normal(size=(T, 16)),
                obj_pos=rng.normal(size=(T + 1, 3)), obj_quat=rng.normal(size=(T + 1, 4)), axis=[0, 0, 1.0],
                wrist=[1.0, 0, 0, 0], object_id=i % 3)


def test_round_trip_and_resume(tmp_path):
    rng = np.random.default_rng(0)
    eps = [episode(rng, i) for i in range(7)]
    meta = {"objects": ["a", "b", "c"], "wrists": ("palm_up",)}
    w = RolloutWriter(tmp_path / "ds", steps=T, shard_episodes=3, meta=meta)
    for e in eps[:4]:
        w.add(**e)
    del w                                   # killed: the 4th episode was never flushed
    with pytest.raises(DatasetError, match="resume"):
        RolloutWriter(tmp_path / "ds", steps=T, shard_episodes=3)
    with pytest.raises(DatasetError, match=r"other wrists \(\['palm_up'\], now \['base_up'\]\)"):
        RolloutWriter(tmp_path / "ds", steps=T, shard_episodes=3, resume=True, meta=meta | {"wrists": ["base_up"]})
    with pytest.raises(DatasetError, match=r"other command_model \(None, now 'uan.pt'\)"):
        RolloutWriter(tmp_path / "ds", steps=T, shard_episodes=3, resume=True, meta=meta | {"command_model": "uan.pt"})
    w = RolloutWriter(tmp_path / "ds", steps=T, shard_episodes=3, resume=True, meta=meta)
    assert w.episodes == 3
    for e in eps[3:]:
        w.add(**e)
    w.close()
    ds = RolloutDataset.open(tmp_path / "ds")
    assert ds.episodes == 7 and ds.manifest["meta"] == {"objects": ["a", "b", "c"], "wrists": ["palm_up"]}
    with pytest.raises(DatasetError, match=r"manifest.json: meta 'seed' = np.int64\(3\) cannot be stored"):
        RolloutWriter(tmp_path / "other", steps=T, meta={"seed": np.int64(3)})
    got = np.concatenate([s["q"] for s in ds.iter_shards(("q",))])
    np.testing.assert_allclose(got, np.stack([e["q"] for e in eps]), rtol=1e-6)
    ids = np.concatenate([s["object_id"] for s in ds.iter_shards(("object_id",))])
    assert ids.tolist() == [i % 3 for i in range(7)]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_damaged_shard_is_named(tmp_path, damage):
    rng = np.random.default_rng(1)
    w = RolloutWriter(tmp_path / "ds", steps=T, shard_episodes=2)
    for i in range(4):
        w.add(**episode(rng, i))
    w.close()
    f = tmp_path / "ds" / "shard_00001" / "targets.npy"
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:-100])
    elif damage == "garbage":
        f.write_bytes(b"not a numpy file at all")
    else:
        f.unlink()
    ds = RolloutDataset.open(tmp_path / "ds")
    ds.shard(0)
    with pytest.raises(DatasetError, match="shard_00001"):
        ds.shard(1)


def test_proprio_obs_pairs_q_with_the_target_in_force():
    q = np.arange(5 * 16, dtype=float).reshape(1, 5, 16)
    targets = -q
    obs = proprio_obs(q, targets, np.array([[1.0, 0, 0, 0]]), np.array([[0, 0, 1.0]]), np.array([[3]]), history=3)
    hist = obs[0, 0, :96].reshape(3, 2, 16)
    np.testing.assert_array_equal(hist[:, 0], q[0, 1:4])          # q_1..q_3
    np.testing.assert_array_equal(hist[:, 1], targets[0, 1:4])    # each with its own target
    obs0 = proprio_obs(q, targets, np.array([[1.0, 0, 0, 0]]), np.array([[0, 0, 1.0]]), np.array([[0]]), history=3)
    np.testing.assert_array_equal(obs0[0, 0, :96].reshape(3, 2, 16)[:, 0], np.repeat(q[0, :1], 3, 0))


def test_datasets_written_before_episode_lengths_read_as_full_episodes(tmp_path):
    rng = np.random.default_rng(2)
    w = RolloutWriter(tmp_path / "ds", steps=T, shard_episodes=2)
    for i in range(2):
        w.add(**episode(rng, i))
    w.close()
    (tmp_path / "ds" / "shard_00000" / "length.npy").unlink()
    ds = RolloutDataset.open(tmp_path / "ds")
    assert ds.shard(0, ("length",))["length"].tolist() == [T, T]
    ds.require_full_episodes("residual training")                    # successful-episode data: accepted
