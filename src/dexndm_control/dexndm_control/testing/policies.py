"""Policies for tests and benchmarks: the artifact fakes (``dexndm_learning.policy.fakes``) and a
wrapper that records what a policy was given."""
from __future__ import annotations

from dexndm_learning.policy.fakes import constant_policy, random_policy

__all__ = ["RecordingPolicy", "constant_policy", "random_policy"]


class RecordingPolicy:
    """Wraps a policy and keeps a copy of every observation it is given (``seen``)."""

    def __init__(self, policy, seen: list):
        self.policy, self.seen = policy, seen
        self.kind, self.spec, self.obs_dim = policy.kind, policy.spec, policy.obs_dim

    def __call__(self, obs):
        self.seen.append(obs.copy())
        return self.policy(obs)
