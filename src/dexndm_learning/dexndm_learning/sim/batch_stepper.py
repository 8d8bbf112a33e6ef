"""Physics backends of the batched environments.

A backend (``Stepper``) loads states into worlds and steps every world one control step; the
environment owns one ``MjModel`` per world and randomizes it in place before loading a state.
``make_stepper`` picks the backend named by the env config:

- ``mujoco`` (default, ``ThreadedStepper``): worker threads around ``mj_step``, each environment
  with its own ``MjData`` kept across control steps, so the constraint solver is warm-started
  from the previous step. ``mj_step`` releases the GIL, but each substep takes it back: past about
  8 threads the threads queue for the GIL (16 cores: 3.3 k control steps/s, fewer than 8 threads'
  6.9 k; docs/scaling.md).
- ``mujoco_rollout`` (``RolloutStepper``): one ``mujoco.rollout`` call per control step, every
  substep of every world in MuJoCo's own C++ thread pool with the GIL released once; it scales with
  cores (16 cores: 23.8 k raw). rollout keeps no per-world ``MjData``, so each control step's solver
  warm start is a guess, the velocity change over the last substep (with ``implicitfast`` not the
  ``qacc`` MuJoCo itself keeps; with one substep, a cold start). The first control step after a
  reset equals ``mujoco``'s; later ones drift apart slowly (a few mrad after 40 steps in the test),
  so the two backends agree statistically, not per trajectory.
- ``warp`` (``warp_stepper.WarpStepper``, imported only when asked for): MuJoCo Warp.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import mujoco
import numpy as np
from mujoco import rollout

STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS


BACKENDS = ("mujoco", "mujoco_rollout", "warp")
CONTROL_SPEC = int(mujoco.mjtState.mjSTATE_CTRL) | int(mujoco.mjtState.mjSTATE_XFRC_APPLIED)


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
    if cfg.backend == "mujoco_rollout":
        return RolloutStepper(models, cfg.nthread, substeps, force_body)
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

    def step(self, ctrl: np.ndarray, force: np.ndarray, out_state: np.ndarray, out_sens: np.ndarray,
             ids=None) -> None:
        """One control step of every env (or of envs ``ids`` only: the others neither move nor are
        written): ``ctrl`` (N, nu) and object force (N, 3) held over the substeps."""
        chunks = self.chunks if ids is None else [c for c in np.array_split(np.asarray(ids), len(self.chunks)) if len(c)]
        futures = [self.pool.submit(self._work, c, ctrl, force, out_state, out_sens) for c in chunks]
        for f in futures:
            f.result()

    def close(self) -> None:
        self.pool.shutdown()


def size_key(m: mujoco.MjModel) -> tuple:
    """Every size field of a model: worlds with equal keys can share ``MjData`` buffers."""
    return tuple(getattr(m, a) for a in dir(m) if a.startswith("n") and isinstance(getattr(m, a), int))


class RolloutStepper:
    """Every world stepped by ``mujoco.rollout`` (one call per size family per control step)."""

    def __init__(self, models: list[mujoco.MjModel], nthread: int, substeps: int, force_body: int):
        self.models = models
        self.substeps = substeps
        self.nstate = mujoco.mj_stateSize(models[0], STATE_SPEC)
        nv, nu = models[0].nv, models[0].nu
        q0 = mujoco.mj_stateSize(models[0], int(mujoco.mjtState.mjSTATE_TIME) | int(mujoco.mjtState.mjSTATE_QPOS))
        self.qvel = slice(q0, q0 + nv)              # qvel's columns in a FULLPHYSICS state
        self.dt = models[0].opt.timestep
        sizes = {(m.nq, m.nv, m.nu, m.nsensordata, mujoco.mj_stateSize(m, STATE_SPEC)) for m in models}
        if len(sizes) > 1:       # rollout is called with skip_checks: the families must share these
            raise ValueError(f"RolloutStepper: worlds differ in (nq, nv, nu, nsensordata, nstate): {sorted(sizes)}")
        keys = [size_key(m) for m in models]
        self.families = [np.array([i for i, k in enumerate(keys) if k == key]) for key in dict.fromkeys(keys)]
        self.fam_models = [[models[i] for i in ids] for ids in self.families]
        self.fam_datas = [[mujoco.MjData(models[ids[0]]) for _ in range(max(nthread, 1))] for ids in self.families]
        self.state = np.zeros((len(models), self.nstate))
        self.warm = np.zeros((len(models), nv))
        self.control = np.zeros((len(models), substeps, mujoco.mj_stateSize(models[0], CONTROL_SPEC)))
        self.force_col = nu + 6 * force_body            # the object's xfrc_applied in a control row
        self.out_state = [np.zeros((len(ids), substeps, self.nstate)) for ids in self.families]
        self.out_sens = [np.zeros((len(ids), substeps, models[0].nsensordata)) for ids in self.families]
        self.scratch = [mujoco.MjData(models[ids[0]]) for ids in self.families]
        self.family_of = np.zeros(len(models), dtype=int)
        for f, ids in enumerate(self.families):
            self.family_of[ids] = f
        self.pool = rollout.Rollout(nthread=nthread)

    def set_state(self, i: int, state: np.ndarray, ctrl: np.ndarray) -> np.ndarray:
        """Load a full physics state into env i (solver warm start cleared), return its sensors."""
        m, d = self.models[i], self.scratch[self.family_of[i]]
        mujoco.mj_setState(m, d, state, STATE_SPEC)
        d.ctrl[:] = 0.0
        d.ctrl[: len(ctrl)] = ctrl
        d.xfrc_applied[:] = 0.0
        d.qacc_warmstart[:] = 0.0
        mujoco.mj_forward(m, d)
        self.state[i] = state
        self.warm[i] = 0.0
        return d.sensordata.copy()

    def set_states(self, ids, states: np.ndarray, ctrls: np.ndarray) -> np.ndarray:
        return np.stack([self.set_state(i, s, c) for i, s, c in zip(ids, states, ctrls)])

    def step(self, ctrl: np.ndarray, force: np.ndarray, out_state: np.ndarray, out_sens: np.ndarray) -> None:
        """One control step of every env: ``ctrl`` (N, nu) and object force (N, 3) held over the substeps."""
        self.control[:, :, : ctrl.shape[1]] = ctrl[:, None]
        self.control[:, :, self.force_col: self.force_col + 3] = force[:, None]
        for ids, models, datas, st, se in zip(self.families, self.fam_models, self.fam_datas, self.out_state, self.out_sens):
            self.pool.rollout(models, datas, self.state[ids], self.control[ids], control_spec=CONTROL_SPEC,
                              skip_checks=True, nstep=self.substeps, initial_warmstart=self.warm[ids],
                              state=st, sensordata=se)
            out_state[ids] = st[:, -1]
            out_sens[ids] = se[:, -1]
            if self.substeps > 1:
                self.warm[ids] = (st[:, -1, self.qvel] - st[:, -2, self.qvel]) / self.dt
        self.state[:] = out_state

    def close(self) -> None:
        self.pool.close()
