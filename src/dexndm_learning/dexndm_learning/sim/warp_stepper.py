"""Steps N worlds with MuJoCo Warp (``mujoco-warp``): the GPU physics backend of the rotation env.

The same interface as ``batch_stepper.ThreadedStepper``: the environment keeps one compiled
``MjModel`` per world and randomizes it in place at reset as for the C backend; this stepper
copies each world's varying parameters (the Model fields MuJoCo Warp batches per world, listed in
``BATCHED_FIELDS``) from that model onto the device at reset. So domain randomization, reality
profiles, resets, sensors and rewards are computed by the same code on both backends.

MuJoCo Warp cannot vary a model's structure (geom types, meshes, counts) across worlds, so worlds
are grouped into *families* of structurally equal models: all sizes of a primitive object share
one family (``geom_size``, ``geom_aabb``, ``geom_rbound`` are batched); every mesh object is its
own. A family is one ``mjw.Model`` + ``mjw.Data`` with one world per environment.

Per control step the physics stays on the device (on CUDA the substeps are one captured graph).
With the env's ``arrays: torch`` the caller's state and sensor arrays are torch tensors on the
same device and ``step`` writes into them there: observations, rewards and dones are computed on
the device too (``arrays.py``), and new episodes start there (``device_reset.py`` and
``load_where``), so a control step reads nothing back but the buffer-overflow flags every
``OVERFLOW_CHECK_EVERY`` steps. With numpy arrays, ``step`` copies ``nworld x (46 + 98)`` floats
to the host per control step and resets go through ``set_states``.

Results agree with C MuJoCo statistically, not per trajectory (float32, a different collision and
solver path): see ``test_warp_backend.py`` for the tolerances.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import mujoco
import numpy as np

STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS

BATCHED_FIELDS: tuple[str, ...] = (
    "body_mass", "body_inertia", "body_ipos", "body_iquat", "body_subtreemass", "body_invweight0",
    "dof_invweight0", "dof_damping", "dof_frictionloss", "dof_armature",
    "geom_size", "geom_aabb", "geom_rbound", "geom_pos", "geom_quat", "geom_friction",
    "actuator_gainprm", "actuator_biasprm", "actuator_forcerange", "actuator_acc0",
)
"""Model fields copied per world from the env's ``MjModel`` at reset: everything randomization,
``reality.apply_profile`` and ``mj_setConst`` change, and what differs between sizes of one shape.
``opt.gravity`` (the wrist) is batched too."""


OVERFLOW_CHECK_EVERY = 50
"""Device steps between reads of the buffer-overflow flags (one host sync each)."""

UNUSED_UNBATCHED = ("dof_length",)
"""Unbatched Warp fields that may differ between worlds of a family: read only when sleeping is on."""


def family_key(model: mujoco.MjModel) -> str:
    """Hash of every array MuJoCo Warp's ``Model`` shares between worlds (its fields whose shape
    does not start with a per-world dimension), taken from ``model``: worlds whose models hash
    alike can be one Warp model."""
    import dataclasses

    from mujoco_warp._src import types

    h = hashlib.sha1()
    for f in dataclasses.fields(types.Model):
        shape = getattr(f.type, "shape", None)
        if not shape or shape[0] == "*" or f.name in UNUSED_UNBATCHED:
            continue
        value = getattr(model, f.name, None)
        if isinstance(value, np.ndarray):
            h.update(f.name.encode())
            h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


@dataclass
class WorldParams:
    """What an episode start randomizes in a world, one row per env (torch tensors on the device):
    object mass (N,) and inertia (N, 3), object friction (N,), joint kp and kd (N, 16), gravity in
    the hand frame (N, 3). Mass None: the model's parameters stay as they are (only the gravity is
    set; nothing for ``set_const`` to derive)."""
    mass: object
    inertia: object
    friction: object
    kp: object
    kd: object
    gravity: object


@dataclass
class _Family:
    envs: np.ndarray            # env index of each world
    model: object               # mjw.Model
    data: object                # mjw.Data
    graph: object = None        # captured substeps (CUDA only)
    envs_device: object = None  # ``envs`` as a torch tensor on the device (tensor steps)
    overflow: object = None     # OR of the overflow flags since the last check (tensor steps)
    object_geoms: object = None  # the object's geoms, a device index tensor (device resets)


def _warp():
    import warp as wp

    wp.config.quiet = True                      # no start-up banner
    wp.config.log_level = wp.LOG_WARNING        # no line per kernel module loaded
    return wp


def default_device() -> str:
    """Where Warp runs by default: the first CUDA device if there is one, else the CPU."""
    return str(_warp().get_preferred_device())


class WarpStepper:
    takes_tensors = True

    def __init__(self, models: list[mujoco.MjModel], substeps: int, force_body: int, device: str = "",
                 nconmax: int = 32, njmax: int = 256):
        wp = _warp()
        import mujoco_warp as mjw

        self.wp, self.mjw = wp, mjw
        self.models = models
        self.substeps = substeps
        self.force_body = force_body
        self.device = wp.get_device(device or None)
        m0 = models[0]
        self.nq, self.nv, self.nu = m0.nq, m0.nv, m0.nu
        self.nstate = mujoco.mj_stateSize(m0, STATE_SPEC)
        if self.nstate != 1 + m0.nq + m0.nv + m0.na:
            raise NotImplementedError(f"the Warp backend handles time, qpos, qvel and act state only "
                                      f"(state size {self.nstate} != {1 + m0.nq + m0.nv + m0.na})")
        keys = [family_key(m) for m in models]
        self.families: list[_Family] = []
        self.family_of_env = np.zeros(len(models), dtype=np.int64)
        self.world_of_env = np.zeros(len(models), dtype=np.int64)
        with wp.ScopedDevice(self.device):
            for key in dict.fromkeys(keys):
                envs = np.array([i for i, k in enumerate(keys) if k == key])
                mjm = models[envs[0]]
                n = len(envs)
                model = mjw.put_model(mjm, batch_sizes={f: n for f in BATCHED_FIELDS})
                model.opt.gravity = wp.array(np.tile(mjm.opt.gravity, (n, 1)), dtype=wp.vec3)
                # The model's solver limits (iterations, ls_iterations) are hit silently by C MuJoCo
                # too; buffer overflows are not warned about but raised after each step.
                model.opt.warn_overflow = 0
                data = mjw.make_data(mjm, nworld=n, nconmax=nconmax, njmax=njmax)
                self.family_of_env[envs] = len(self.families)
                self.world_of_env[envs] = np.arange(n)
                self.families.append(_Family(envs, model, data))
        self._t = wp.to_torch
        self._steps = 0
        o = mjw.OverflowType
        self._buffer_overflows = int(o.NEFC | o.NJMAX_NNZ | o.BROADPHASE | o.NARROWPHASE | o.CCD)

    # ------------------------------------------------------------------ parameters and state
    def _put_rows(self, arr, worlds, values) -> None:
        """Write ``values`` (len(worlds), ...) into rows ``worlds`` of the Warp array ``arr``, in place."""
        import torch

        t = self._t(arr)
        t[worlds] = torch.as_tensor(np.asarray(values), dtype=t.dtype, device=t.device).reshape(
            (len(worlds),) + tuple(t.shape[1:]))

    def set_states(self, ids, states: np.ndarray, ctrls: np.ndarray) -> np.ndarray:
        """Load full physics states (and the parameters of each env's ``MjModel``) into envs ``ids``,
        recompute derived quantities, return their sensors (len(ids), nsensordata)."""
        import torch

        ids = np.asarray(ids)
        states = np.asarray(states).reshape(len(ids), self.nstate)
        ctrls = np.asarray(ctrls).reshape(len(ids), -1)
        out = np.zeros((len(ids), self.models[0].nsensordata))
        fams = self.family_of_env[ids]
        with self.wp.ScopedDevice(self.device):
            for f in np.unique(fams):
                fam, rows = self.families[f], np.flatnonzero(fams == f)
                envs = ids[rows]
                worlds = torch.as_tensor(self.world_of_env[envs], device=self._t(fam.data.qpos).device)
                m, d, n = fam.model, fam.data, len(rows)
                for name in BATCHED_FIELDS:
                    self._put_rows(getattr(m, name), worlds, [getattr(self.models[i], name) for i in envs])
                self._put_rows(m.opt.gravity, worlds, [self.models[i].opt.gravity for i in envs])
                s = states[rows]
                self._put_rows(d.time, worlds, s[:, 0])
                self._put_rows(d.qpos, worlds, s[:, 1:1 + self.nq])
                self._put_rows(d.qvel, worlds, s[:, 1 + self.nq:1 + self.nq + self.nv])
                ctrl = np.zeros((n, self.nu))
                ctrl[:, :ctrls.shape[1]] = ctrls[rows]
                self._put_rows(d.ctrl, worlds, ctrl)
                self._put_rows(d.xfrc_applied, worlds, np.zeros((n,) + tuple(self._t(d.xfrc_applied).shape[1:])))
                self._put_rows(d.qacc_warmstart, worlds, np.zeros((n, self.nv)))
                self.mjw.forward(m, d)
                out[rows] = self._t(d.sensordata)[worlds].cpu().numpy()
        return out

    def set_state(self, i: int, state: np.ndarray, ctrl: np.ndarray) -> np.ndarray:
        return self.set_states([i], state[None], np.asarray(ctrl)[None])[0]

    # ------------------------------------------------------------------ step
    def _substeps(self, fam: _Family) -> None:
        for _ in range(self.substeps):
            self.mjw.step(fam.model, fam.data)

    def step(self, ctrl, force, out_state, out_sens) -> None:
        """One control step of every env: ``ctrl`` (N, nu) and object force (N, 3) held over the
        substeps; the state and sensors reached are written into ``out_state`` and ``out_sens``.
        numpy arrays go through the host; torch tensors (``takes_tensors``: the env's ``arrays:
        torch``) stay on the device, and buffer overflows are then checked every
        ``OVERFLOW_CHECK_EVERY`` steps instead of every step (the check reads the device)."""
        import torch

        wp = self.wp
        on_device = torch.is_tensor(ctrl)
        with wp.ScopedDevice(self.device):
            for f, fam in enumerate(self.families):
                d = fam.data
                dev = self._t(d.qpos).device
                e = self._family_index(f) if on_device else fam.envs
                self._t(d.ctrl)[:, :ctrl.shape[1]] = torch.as_tensor(ctrl[e], dtype=torch.float32, device=dev)
                self._t(d.xfrc_applied)[:, self.force_body, :3] = torch.as_tensor(force[e], dtype=torch.float32,
                                                                                   device=dev)
                if self.device.is_cuda:
                    if fam.graph is None:
                        with wp.ScopedCapture() as capture:
                            self._substeps(fam)
                        fam.graph = capture.graph
                    wp.capture_launch(fam.graph)
                else:
                    self._substeps(fam)
                if on_device:
                    flags = self._t(d.overflow).to(torch.int64)
                    fam.overflow = flags if fam.overflow is None else fam.overflow | flags
                    parts = (self._t(d.time)[:, None], self._t(d.qpos), self._t(d.qvel))
                    out_state[e] = torch.cat(parts, dim=1).to(out_state.dtype)
                    out_sens[e] = self._t(d.sensordata).to(out_sens.dtype)
                    continue
                self._check_overflow(int(np.bitwise_or.reduce(d.overflow.numpy())), d)
                out_state[e, 0] = self._t(d.time).cpu().numpy()
                out_state[e, 1:1 + self.nq] = self._t(d.qpos).cpu().numpy()
                out_state[e, 1 + self.nq:1 + self.nq + self.nv] = self._t(d.qvel).cpu().numpy()
                out_sens[e] = self._t(d.sensordata).cpu().numpy()
        if on_device:
            self._steps += 1
            if self._steps % OVERFLOW_CHECK_EVERY == 0:
                self.check_overflows()

    def check_overflows(self) -> None:
        """Raise if a device step since the last check overflowed a buffer (reads the device)."""
        for fam in self.families:
            if fam.overflow is not None:
                flags = int(np.bitwise_or.reduce(fam.overflow.cpu().numpy()))
                fam.overflow = None
                self._check_overflow(flags, fam.data)

    def _check_overflow(self, flags: int, d) -> None:
        overflow = flags & self._buffer_overflows
        if overflow:
            raise RuntimeError(f"MuJoCo Warp buffer overflow ({self.mjw.OverflowType(overflow)!r}): raise "
                               f"env.warp_nconmax ({d.naconmax // d.nworld} contacts per world) or "
                               f"env.warp_njmax ({d.njmax} constraint rows)")

    def _family_index(self, f: int):
        """Env indices of family ``f``'s worlds as a device tensor (made once)."""
        import torch

        fam = self.families[f]
        if fam.envs_device is None:
            fam.envs_device = torch.as_tensor(fam.envs, device=self._t(fam.data.qpos).device)
        return fam.envs_device

    def load_where(self, mask, states, ctrls, params: "WorldParams"):
        """Device resets: in the worlds where ``mask`` (N,) is true, load ``states`` (N, nstate),
        ``ctrls`` (N, 16) and ``params``, zero the object force and the solver warm start, recompute
        the derived constants (``set_const``, Warp's ``mj_setConst``) and ``forward``. Everything
        stays on the device; worlds where ``mask`` is false keep their state and parameters.
        Returns every world's sensors after ``forward`` (N, nsensordata); the caller keeps the
        masked worlds' rows."""
        import torch

        out = torch.empty((len(mask), self.models[0].nsensordata), dtype=states.dtype, device=states.device)
        b = self.force_body
        with self.wp.ScopedDevice(self.device):
            for f, fam in enumerate(self.families):
                e = self._family_index(f)
                m, d = fam.model, fam.data
                keep = mask[e]

                def put(arr, values, keep=keep):
                    t = self._t(arr)
                    t.copy_(torch.where(keep.view(-1, *[1] * (t.dim() - 1)), values.to(t.dtype), t))

                def put_cols(arr, index, values, put=put):
                    v = self._t(arr).clone()
                    v[index] = values.to(v.dtype)
                    put(arr, v)

                put(d.time, states[e, 0])
                put(d.qpos, states[e, 1:1 + self.nq])
                put(d.qvel, states[e, 1 + self.nq:1 + self.nq + self.nv])
                put_cols(d.ctrl, (slice(None), slice(0, ctrls.shape[1])), ctrls[e])
                put(d.xfrc_applied, torch.zeros_like(self._t(d.xfrc_applied)))
                put(d.qacc_warmstart, torch.zeros_like(self._t(d.qacc_warmstart)))
                put(m.opt.gravity, params.gravity[e])
                if params.mass is not None:
                    put_cols(m.body_mass, (slice(None), b), params.mass[e])
                    put_cols(m.body_inertia, (slice(None), b), params.inertia[e])
                    if fam.object_geoms is None:
                        fam.object_geoms = torch.as_tensor(np.flatnonzero(self.models[fam.envs[0]].geom_bodyid == b),
                                                           device=e.device)
                    geoms = fam.object_geoms
                    put_cols(m.geom_friction, (slice(None), geoms, 0), params.friction[e][:, None])
                    joints = slice(0, params.kp.shape[1])
                    put_cols(m.actuator_gainprm, (slice(None), joints, 0), params.kp[e])
                    put_cols(m.actuator_biasprm, (slice(None), joints, 1), -params.kp[e])
                    put_cols(m.actuator_biasprm, (slice(None), joints, 2), -params.kd[e])
                    self.mjw.set_const(m, d)
                self.mjw.forward(m, d)
                out[e] = self._t(d.sensordata).to(out.dtype)
        return out

    def close(self) -> None:
        pass
