"""A learned actuation-gap model in the sim's loop (``RotationEnv.command_correction``): what the
hand receives changes, what the policy commanded and observes does not; UAN and ASAP files load as
corrections; the generalist recipe passes them to every collection."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_learning.baselines import asap, uan
from dexndm_learning.baselines.correction import AsapCorrection, UanCorrection, load_correction
from dexndm_learning.sim.hand_model import HandVersionError
from dexndm_learning.bc import pipeline
from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv


def _env() -> RotationEnv:
    return RotationEnv(EnvConfig(num_envs=4, seed=5, disturbance_prob=0.0))


def test_the_correction_reaches_the_hand_and_not_the_policys_targets():
    plain, corrected = _env(), _env()
    corrected.command_correction = lambda env: np.tile(np.eye(16)[3] * 0.2, (env.num_envs, 1))
    zero = np.zeros((4, 16))
    for _ in range(3):
        _, _, _, ip = plain.step(zero)
        _, _, _, ic = corrected.step(zero)
    np.testing.assert_array_equal(ip["targets"], ic["targets"])
    np.testing.assert_array_equal(plain.commanded, corrected.commanded)
    moved = np.abs(ic["q"] - ip["q"]).max(axis=0)
    assert moved[3] > 0.02 and np.delete(moved, 3).max() < moved[3] / 2


def test_saved_uan_and_asap_models_load_as_corrections_with_per_episode_history(tmp_path):
    ucfg = uan.UanConfig(history=4, hidden=[8])
    torch.manual_seed(0)
    uan.save(uan.UanResult(uan.Compensator(ucfg), np.zeros(16), np.zeros(16), []), ucfg, "v1", tmp_path / "u.pt")
    acfg = asap.AsapConfig(hidden=[8])
    asap.save(asap.DeltaActionModel(acfg), acfg, "v1", tmp_path / "a.pt")
    env = _env()
    for path, kind in (("u.pt", UanCorrection), ("a.pt", AsapCorrection)):
        corr = load_correction(tmp_path / path)
        assert isinstance(corr, kind)
        env.command_correction = corr
        for _ in range(3):
            env.step(np.zeros((4, 16)))
        assert corr(env).shape == (4, 16)
    uc = load_correction(tmp_path / "u.pt", "v1")
    with pytest.raises(HandVersionError, match="command model .*a.pt was made on hand v1, but this hand is v2"):
        load_correction(tmp_path / "a.pt", "v2")
    env.command_correction = None
    seen = []
    for _ in range(3):
        env.step(np.full((4, 16), 0.5))
        env.episode_length[:] = 5
        seen.append(env.state[:, 1 + env.qadr].copy())
        uc(env)
    np.testing.assert_array_equal(uc.q[0, -3:], [s[0] for s in seen])      # the last three steps, in order
    env.episode_length[1] = 0                       # env 1 starts an episode: its history restarts
    uc(env)
    np.testing.assert_array_equal(uc.q[1], np.repeat(seen[-1][1][None], ucfg.history + 1, axis=0))
    np.testing.assert_array_equal(uc.q[0, -4:-1], [s[0] for s in seen])
    torch.save({"format": "something"}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="x.pt"):
        load_correction(tmp_path / "x.pt")


def test_a_fine_tuning_recipe_starts_from_its_init_and_corrects_every_collection():
    recipe = pipeline.GeneralistRecipe(teachers=[pipeline.TeacherEntry("a", "runA")], init="base.pt",
                                       command_model="uan.pt", dagger=pipeline.DaggerConfig(rounds=1, epochs=[2]))
    steps = pipeline.plan(recipe, Path("d"), Path("r"))
    collects = [s for s in steps if s.kind == "collect"]
    assert collects and all(s.argv[s.argv.index("--command-model") + 1] == "uan.pt" for s in collects)
    bc = next(s for s in steps if s.name == "bc")
    assert bc.argv[-2:] == ["--init", "base.pt"] and "--width" not in bc.argv
