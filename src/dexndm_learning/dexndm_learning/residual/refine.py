"""On-policy refinement of the target-world NDM (issue 19): deploy, record, refit, retrain.

The NDM is fit on Chaos Box data, open-loop replays of the base policy's actions with the hand in
soft balls. The residual trained through it then commands what the NDM was never shown, the base
targets plus up to ``RESIDUAL_CAP`` in contact with a turning object, and where the model is wrong
there the residual exploits the error: on two stiff profiles of the random-profile benchmark the
NDM promised 55-58 % of the next-state gap closed and the target delivered -5..5 %
(docs/results.md, the issue 19 diagnosis). The usual remedy of model-based RL (the model refit
on the data of the policy that uses it, as in DAgger for system identification, Ross & Bagnell
2012, and in MBPO): run the policy in the target, record (measured q, commanded target) steps,
refit the NDM on the Chaos Box data plus these and retrain the residual through it.

On a real hand a round is a few minutes of ``dexndm rotate --record`` with the base policy and
with base + residual; here ``deployment_steps`` runs them in the target profile's env and records
what those bags hold: the joint positions as the profile's sensor measures them and the commanded
targets, one segment per episode. (``ndm.sim_data.rollout_steps`` records the base targets of
synchronized episode batches without observation noise; a deployment keeps every episode, the
noise the policy is evaluated with, and the command the hand received.)
"""
from __future__ import annotations

import numpy as np

from dexndm_learning.joint_order import NUM_JOINTS
from dexndm_learning.ndm.steps import Steps
from dexndm_learning.sim.rotation_env import RotationEnv


def deployment_steps(env: RotationEnv, act, steps: int) -> Steps:
    """``steps`` control steps of ``act(obs_dict) -> actions`` in every env of ``env`` (episodes
    restart as the env resets them): q measured before each step (the profile's sensor model, as
    the hand's joint states) and the target commanded at it (base + any world-side offset, as the
    command topic), a segment per episode."""
    n = env.num_envs
    q = np.zeros((steps, n, NUM_JOINTS), np.float32)
    a = np.zeros((steps, n, NUM_JOINTS), np.float32)
    episode = np.zeros((steps, n), np.int64)
    count = np.zeros(n, np.int64)
    env.reset(np.arange(n))
    for t in range(steps):
        q[t] = env.sensor_model.measure(env.state[:, 1 + env.qadr])
        episode[t] = count
        _, _, done, _ = env.step(act(env.observations()))
        a[t] = env.commanded
        count += done
    segment = np.arange(n)[None, :] * (steps + 1) + episode          # unique per (env, episode)
    env_major = lambda x: np.swapaxes(x, 0, 1).reshape(n * steps, *x.shape[2:])  # noqa: E731
    return Steps(env_major(q), env_major(a), env_major(segment))
