"""Physics backends of the batched environments, and the default one: N MuJoCo models stepped in
parallel by worker threads around ``mj_step`` (which releases the GIL).

A backend (``Stepper``) loads states into worlds and steps every world one control step; the
environment owns one ``MjModel`` per world and randomizes it in place before loading a state.
``make_stepper`` picks the backend named by the env config: ``mujoco`` (this module) or ``warp``
(``warp_stepper.WarpStepper``, imported only when asked for).

Each environment keeps its own ``MjData`` across control steps, so the constraint solver is
warm-started from the previous step. ``mujoco.rollout`` restarts it cold on every call, which
measured 10-15 % slower on the rotation scene here; the per-step Python work in the workers is a
few microseconds against ~200 us of physics per environment.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import mujoco
import numpy as np

STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS


BACKENDS = ("mujoco", "warp")


class Stepper(Protocol):
    models: list[mujoco.MjModel]

    def set_states(self, ids, states: np.ndarray, ctrls: np.ndarray) -> np.ndarray: ...

    def set_state(self, i: int, state: np.ndarray, ctrl: np.ndarray) -> np.ndarray: ...

    def step(self, ctrl: np.ndarray, force: np.ndarray, out_state: np.ndarray, out_sens: np.ndarray) -> None: ...

    def close(self) -> None: ...


def make_stepper(cfg, models: list[mujoco.MjModel], substeps: int, force_body: int) -> Stepper:
    """The backend ``cfg.backend`` (an ``EnvConfig``) over ``models``, one world per model."""
    if cfg.backend == "mujoco":
        return ThreadedStepper(models, cfg.nthread, substeps, force_body)
    if cfg.backend == "warp":
        from dexndm_learning.sim.warp_stepper import WarpStepper

        return WarpStepper(models, substeps, force_body, cfg.warp_device, cfg.warp_nconmax, cfg.warp_njmax)
    raise ValueError(f"env.backend: unknown physics backend '{cfg.backend}'; valid: {list(BACKENDS)}")


class ThreadedStepper:
    def __init__(self, models: list[mujoco.MjModel], nthread: int, substeps: int, force_body: int):
        self.models = models
        self.datas = [mujoco.MjData(m) for m in models]
        self.substeps = substeps
        self.force_body = force_body
        self.nstate = mujoco.mj_stateSize(models[0], STATE_SPEC)
        self.chunks = [c for c in np.array_split(np.arange(len(models)), nthread) if len(c)]
        self.pool = ThreadPoolExecutor(max_workers=len(self.chunks))

    def set_state(self, i: int, state: np.ndarray, ctrl: np.ndarray) -> np.ndarray:
        """Load a full physics state into env i, recompute derived quantities, return its sensors."""
        m, d = self.models[i], self.datas[i]
        mujoco.mj_setState(m, d, state, STATE_SPEC)
        d.ctrl[: len(ctrl)] = ctrl
        d.xfrc_applied[:] = 0.0
        d.qacc_warmstart[:] = 0.0
        mujoco.mj_forward(m, d)
        return d.sensordata.copy()

    def set_states(self, ids, states: np.ndarray, ctrls: np.ndarray) -> np.ndarray:
        """``set_state`` for each env of ``ids``; returns their sensors (len(ids), nsensordata)."""
        return np.stack([self.set_state(i, s, c) for i, s, c in zip(ids, states, ctrls)])

    def _work(self, ids, ctrl, force, out_state, out_sens) -> None:
        nu = ctrl.shape[1]
        b = self.force_body
        for i in ids:
            m, d = self.models[i], self.datas[i]
            d.ctrl[:nu] = ctrl[i]
            d.xfrc_applied[b, :3] = force[i]
            for _ in range(self.substeps):
                mujoco.mj_step(m, d)
            mujoco.mj_getState(m, d, out_state[i], STATE_SPEC)
            out_sens[i] = d.sensordata

    def step(self, ctrl: np.ndarray, force: np.ndarray, out_state: np.ndarray, out_sens: np.ndarray) -> None:
        """One control step of every env: ``ctrl`` (N, nu) and object force (N, 3) held over the substeps."""
        futures = [self.pool.submit(self._work, c, ctrl, force, out_state, out_sens) for c in self.chunks]
        for f in futures:
            f.result()

    def close(self) -> None:
        self.pool.shutdown()
