"""One contract, three users: on the same recorded episode the policy node's runtime, the
sim-to-sim evaluation (``BaseResidualActor`` in ``RotationEnv``) and residual training
(``residual.train``) build the same observations and command the same targets."""
import numpy as np
import torch

from dexndm_control.runtime.policy_runtime import Mode, PolicyRuntime, SafetyConfig, Sample
from dexndm_control.testing.policies import RecordingPolicy, random_policy
from dexndm_learning import joint_order as jo
from dexndm_learning.data.episode_bank import EpisodeBank
from dexndm_learning.data.rollout_dataset import RolloutWriter
from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import load_policy
from dexndm_learning.residual import deploy
from dexndm_learning.residual.train import BoundedResidual, ResidualConfig, chunk_batch, predict
from dexndm_learning.sim.grasps import GraspConfig
from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig, RotationEnv

STEPS = 12


def record_sim2sim_episode(tmp_path, base, residual):
    """STEPS steps of base + residual in the env: the observations, measured q, base targets
    (targets[k] in force while q[k] was reached) and the commanded targets."""
    env = RotationEnv(EnvConfig(num_envs=1, object_set="normal_cylinders", episode_steps=100, joint_noise=0.0,
                                disturbance_prob=0.0, randomization=RandomizationConfig(enabled=False),
                                grasp=GraspConfig(candidates=8), nthread=1))
    actor = deploy.BaseResidualActor(env, base, residual)
    rec = {"proprio": [], "q": [], "targets": [env.targets[0].copy()], "commanded": [], "actions": []}
    for _ in range(STEPS):
        obs = env.observations()
        rec["proprio"].append(obs["proprio"][0].copy())
        rec["q"].append(env.q_hist[0, -1].copy())
        action = actor(obs)
        env.step(action)
        assert env.episode_length[0] == len(rec["commanded"]) + 1, "the episode was reset mid-recording"
        rec["actions"].append(action[0])
        rec["commanded"].append(env.commanded[0].copy())
        rec["targets"].append(env.targets[0].copy())
    rec["q"].append(env.q_hist[0, -1].copy())
    rec.update(wrist=env.wrist[0].copy(), axis=env.axis_world[0].copy())
    env.stepper.close()
    return {k: np.asarray(v) for k, v in rec.items()}


def test_node_sim2sim_and_residual_training_command_the_same_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path / "cache"))
    base = random_policy(tmp_path / "base.pt", "base", seed=1)
    residual = random_policy(tmp_path / "res.pt", "residual", seed=2)
    rec = record_sim2sim_episode(tmp_path, base, residual)
    assert np.abs(rec["commanded"] - rec["targets"][1:]).max() > 0.01       # the residual acts

    # The policy node's runtime, fed the measured joint states, starting from the hand's targets.
    seen = []
    rt = PolicyRuntime(RecordingPolicy(load_policy(base), seen), load_policy(residual), SafetyConfig(max_step=1.0))
    rt.set_wrist(rec["wrist"], 0.0)
    rt.set_command(Mode.ROTATE, rec["axis"])
    rt.set_hand_target(rec["targets"][0], 0.0)
    node = np.array([rt.tick(Sample(q, 0.05 * k), 0.05 * k).target for k, q in enumerate(rec["q"][:STEPS])])
    np.testing.assert_allclose(np.array(seen), rec["proprio"], atol=1e-6)     # the env's own observations
    np.testing.assert_allclose(node, rec["commanded"], atol=1e-6)

    # Residual training on the same episode: its commands (through an NDM that returns the last
    # command of its window) are the commanded targets.
    writer = RolloutWriter(tmp_path / "episode", steps=STEPS)
    writer.add(q=rec["q"], targets=rec["targets"], actions=rec["actions"], obj_pos=np.zeros((STEPS + 1, 3)),
               obj_quat=np.tile([1.0, 0, 0, 0], (STEPS + 1, 1)), axis=rec["axis"], wrist=rec["wrist"], object_id=0)
    writer.close()
    cfg = ResidualConfig(chunk=STEPS, joint_noise=0.0)
    batch = chunk_batch(EpisodeBank([tmp_path / "episode"]), np.array([[0, 0]]), cfg, 1, np.random.default_rng(0))
    policy = load_policy(residual)
    trained_as = BoundedResidual(policy.net, policy.spec.obs_mean, policy.spec.obs_std)
    with torch.no_grad():
        err = predict(lambda x: x[:, -1, :, 1], 1, batch, trained_as(batch.obs))[0]
    training = (err + batch.next_q.reshape(-1, jo.NUM_JOINTS)).numpy()
    np.testing.assert_allclose(batch.obs[0, :, :contract.obs_dim()].numpy(), rec["proprio"], atol=1e-6)
    np.testing.assert_allclose(training, rec["commanded"], atol=1e-5)


def test_a_gated_residual_commands_the_same_targets_in_the_node_and_in_sim2sim(tmp_path, monkeypatch):
    """The gate (residual.gate) depends on the history of measured q and commanded targets: the
    node's runtime and the sim-to-sim actor keep the same history and scale alike. (Residual
    training computes its gate from the ungated commands, an approximation its docstring states.)"""
    from dexndm_learning.ndm.models import build_model
    from dexndm_learning.policy.artifact import save_policy
    from dexndm_learning.residual.gate import NdmEnsemble, ResidualGate

    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path / "cache"))
    base = random_policy(tmp_path / "base.pt", "base", seed=1)
    plain = load_policy(random_policy(tmp_path / "plain.pt", "residual", seed=2))
    torch.manual_seed(3)
    ensemble = NdmEnsemble([build_model("joint", window=4, width=16, depth=1) for _ in range(2)])
    probe = torch.as_tensor(np.random.default_rng(0).normal(jo.CANONICAL_GRASP[:, None], 0.05, (64, 4, 16, 2)),
                            dtype=torch.float32)
    ref = ensemble.mean_and_spread(probe)[1].median(0).values.detach().numpy()    # scales well inside (0, 1)
    save_policy(tmp_path / "gated.pt", "residual", plain.net, plain.spec, ResidualGate(ensemble, ref, 0.5))
    rec = record_sim2sim_episode(tmp_path, base, tmp_path / "gated.pt")
    ungated = record_sim2sim_episode(tmp_path, base, tmp_path / "plain.pt")
    assert np.abs(rec["commanded"] - ungated["commanded"]).max() > 1e-3         # the gate acts

    rt = PolicyRuntime(load_policy(base), load_policy(tmp_path / "gated.pt"), SafetyConfig(max_step=1.0))
    rt.set_wrist(rec["wrist"], 0.0)
    rt.set_command(Mode.ROTATE, rec["axis"])
    rt.set_hand_target(rec["targets"][0], 0.0)
    outs = [rt.tick(Sample(q, 0.05 * k), 0.05 * k) for k, q in enumerate(rec["q"][:STEPS])]
    np.testing.assert_allclose(np.array([o.target for o in outs]), rec["commanded"], atol=1e-6)
    assert 0.0 < min(o.residual_scale for o in outs) < 1.0
