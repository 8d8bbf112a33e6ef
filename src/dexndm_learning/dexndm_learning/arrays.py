"""One definition of the per-step math for numpy arrays and torch tensors on any device.

The rotation env's step (actions to targets, the world's command filter and sensor, rewards,
drops, histories, observations) is written against the Python array API, so the same functions run
on numpy (the C MuJoCo backends) and on torch tensors on the physics device (MuJoCo Warp on a GPU,
``EnvConfig.arrays: torch``) without copying the state to the host every step. The namespace of a
torch tensor comes from ``array-api-compat`` (the adapter scipy and scikit-learn use); numpy 2 is
array-API compliant itself and is used directly, so the CPU path pays no wrapper.
"""
from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, is_torch_array

__all__ = ["is_torch_array", "namespace", "like", "TorchRandom"]


def namespace(*arrays):
    """The array namespace of ``arrays`` (numpy unless one of them is a torch tensor); Python
    scalars, lists and None are ignored."""
    tensors = [a for a in arrays if is_torch_array(a)]
    return array_namespace(*tensors) if tensors else np


def like(values, ref):
    """``values`` (array, list or scalar) as an array of ``ref``'s namespace, dtype and device."""
    if not is_torch_array(ref):
        return np.asarray(values, dtype=ref.dtype)
    import torch

    return torch.as_tensor(np.asarray(values) if isinstance(values, (list, tuple)) else values,
                           dtype=ref.dtype, device=ref.device)


class TorchRandom:
    """The few ``numpy.random.Generator`` methods the env step draws from, as torch tensors on a
    device (seeded, so a device run is reproducible on its own; its stream differs from numpy's)."""

    def __init__(self, seed: int, device, dtype):
        import torch

        self.torch = torch
        self.device, self.dtype = device, dtype
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(int(seed))

    def random(self, size):
        return self.torch.rand(size, generator=self.gen, device=self.device, dtype=self.dtype)

    def normal(self, size):
        return self.torch.randn(size, generator=self.gen, device=self.device, dtype=self.dtype)

    def uniform(self, low, high, size):
        return low + (high - low) * self.random(size)
