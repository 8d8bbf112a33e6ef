"""The ``mujoco_rollout`` physics backend (``mujoco.rollout``'s native threads) against the default
``mujoco`` threads: the same physics, differing only in the solver's warm start after the first
control step (rollout's is estimated from the last two substeps)."""
from __future__ import annotations

import numpy as np

from dexndm_learning.sim import objects
from dexndm_learning.sim.batch_stepper import RolloutStepper, ThreadedStepper
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv, build_object_model


def _env(backend: str, n: int, seed: int = 3, **kw) -> RotationEnv:
    return RotationEnv(EnvConfig(num_envs=n, backend=backend, seed=seed, disturbance_prob=0.0, **kw))


def test_first_control_step_is_the_threads_step_and_later_ones_stay_close():
    c, r = _env("mujoco", 6, nthread=2), _env("mujoco_rollout", 6, nthread=2)
    assert isinstance(c.stepper, ThreadedStepper) and isinstance(r.stepper, RolloutStepper)
    rng = np.random.default_rng(0)
    actions = rng.normal(0, 0.3, (40, 6, 16))
    c.step(actions[0])
    r.step(actions[0])
    np.testing.assert_allclose(r.state, c.state, rtol=0, atol=1e-9)      # cold start in both: same step
    np.testing.assert_allclose(r.sens, c.sens, rtol=0, atol=1e-9)
    for a in actions[1:]:
        _, _, dc, ic = c.step(a)
        _, _, dr, ir = r.step(a)
    assert np.abs(ir["q"] - ic["q"]).max() < 2e-2      # rad, after 40 contact-rich steps (v2: 0.011, v1: < 5e-3)
    assert np.abs(ir["obj_pos"] - ic["obj_pos"]).max() < 2e-3                # m


def test_worlds_of_different_sizes_are_stepped_in_their_own_families():
    hand = HandConfig.load("hand", {})
    cyl, cub = objects.object_set("normal_cylinders")[:1], objects.object_set("complex")[:1]
    models = [build_object_model(hand, o) for o in (cyl[0], cub[0], cyl[0], cub[0])]
    body = models[0].body("object").id
    rs, ts = RolloutStepper(models, 2, 3, body), ThreadedStepper(models, 2, 3, body)
    assert [list(f) for f in rs.families] == [[0, 2], [1, 3]]
    states = np.zeros((4, rs.nstate))
    for i, m in enumerate(models):
        states[i, 1:1 + m.nq] = m.qpos0
    np.testing.assert_array_equal(rs.set_states(range(4), states, np.zeros((4, 16))),
                                  ts.set_states(range(4), states, np.zeros((4, 16))))
    outs = [(np.zeros((4, rs.nstate)), np.zeros((4, models[0].nsensordata))) for _ in range(2)]
    force = np.tile([0.0, 0.0, 0.05], (4, 1))
    for stepper, (st, se) in zip((rs, ts), outs):
        stepper.step(np.full((4, 16), 0.2), force, st, se)
        stepper.close()
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=0, atol=1e-9)
