"""Batched in-hand rotation environment: N hands stepped in parallel threads around ``mj_step``.

Each environment has its own compiled ``MjModel`` (hand + one object + sensors) so physical
parameters are randomized in place at reset. The hand is fixed in the world; the wrist
orientation is emulated by rotating gravity into the hand frame, which is exact for a fixed hand
and lets one model serve every wrist. Positions and velocities observed by the policy are
therefore in the hand frame H; the commanded axis and the wrist quaternion are given in the world
frame, as at deployment.

Physics: 20 Hz control, each control step = ``HandConfig.substeps`` physics steps of
``HandConfig.timestep`` (6 x 1/120 s by default) with the targets and the object disturbance
force held; PD torque control runs inside MuJoCo's position actuators at every physics step.

The per-step state and math are numpy on the host, or torch tensors on the physics device with
``EnvConfig.arrays: torch`` (one array-API code path, ``dexndm_learning.arrays``). Episodes start
on the host (``reset``), except with torch arrays on MuJoCo Warp, where they start on the device
(``sim.device_reset``).

Observation groups (float32):
- ``oracle``: privileged state for the RL specialists (see ``_oracle_obs``),
- ``proprio``: the generalist's deployable input: 10 steps of (q_k, a_{k-1}), wrist quaternion
  and axis (world) = 327 values.
"""
from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.arrays import like
from dexndm_learning.policy import contract
from dexndm_learning.sim import grasps as grasp_mod
from dexndm_learning.sim.batch_stepper import BACKENDS, make_stepper
from dexndm_learning.sim import objects, reality, sensors
from dexndm_learning.sim.axes import axis_set
from dexndm_learning.sim.hand_model import (GRASP_CENTRE_IN_HAND, HandConfig, hand_spec, joint_dof_addr,
                                            joint_qpos_addr, set_pd_gains)
from dexndm_learning.sim.rotation_reward import (RewardConfig, quat_angle, reward_terms, rotate_quat_about,
                                                 rotp_weight)
from dexndm_learning.sim.wrist import NAMED_WRISTS, from_wxyz, gravity_in_hand

STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS
ARRAY_KINDS = ("numpy", "torch")
MAX_SPEED = 100.0
"""A joint or object speed beyond this means the physics diverged: the step counts as a drop
and earns nothing (MuJoCo resets diverged data itself, which would otherwise look valid)."""


@dataclass
class RandomizationConfig:
    enabled: bool = True
    object_mass: tuple[float, float] = (0.01, 0.05)      # kg
    object_friction: tuple[float, float] = (0.3, 3.0)
    kp_scale: tuple[float, float] = (0.8, 1.2)           # per joint
    kd_scale: tuple[float, float] = (0.8, 1.2)


@dataclass
class CurriculumConfig:
    """Training-only settings; schedules are counted in env steps (all envs) reported by the trainer.

    Gravity curriculum (as in Chen et al., "Visual Dexterity", 2022): gravity starts at
    ``gravity_start`` of its magnitude and rises linearly to full by ``gravity_full_steps``, so
    early exploration is not ended by drops before a finger gait exists. Off by default; an
    environment the trainer does not drive (evaluation, data collection) always has full gravity."""
    gravity_start: float = 1.0
    gravity_full_steps: float = 0.0
    # Axis balancing: sample each axis of the set with weight (1 - its running time to fall) +
    # ``balance_floor`` instead of uniformly, so an axis the policy keeps dropping on (short
    # episodes, few samples) gets more episodes until it catches up. Specialist (a) learned -z
    # (TTF 0.95) and not +z (0.22) with uniform sampling; 21 minutes of balancing moved +z to
    # 0.28 only (docs/results.md). 0 = off.
    balance_axes_ema: float = 0.0     # EMA weight of one finished episode in an axis' running TTF
    balance_floor: float = 0.1
    # Stray termination: the episode also ends, as a drop (drop penalty, no bootstrap), when the
    # object is more than this (m) from its start position. Specialist (a) loses the object about
    # +z by walking it 4 cm off the heel of the palm over 2-4 s before it falls; ending the episode
    # at 3 cm ties the drop penalty to the drift while it is still recoverable (penalizing the
    # drift per step instead made the policy drop more, see rotation_reward.a_pos). +z from
    # scratch with 3 cm: TTF 0.40 at 3.6 and 9.4 M steps, 0.27-0.29 without (docs/results.md).
    # The fall that evaluation counts stays ``EnvConfig.drop_distance``. 0 = off.
    stray_distance: float = 0.0


@dataclass
class EnvConfig:
    num_envs: int = 256
    object_set: str = "normal_cylinders"
    object_seed: int = 0
    wrists: list[str] = field(default_factory=lambda: ["palm_up"])   # named wrists and/or "random"
    random_wrist_pool: int = 24          # wrist quaternions grasps are made for when "random" is used
    axis_set: str = "z"
    episode_steps: int = 400
    action_scale: float = contract.ACTION_SCALE   # policy.contract; a run may study another
    history: int = contract.HISTORY
    joint_noise: float = 0.005           # U(-x, x) on observed joint positions
    disturbance_scale: float = 2.0       # force magnitude = scale x object mass (N)
    disturbance_prob: float = 0.25
    drop_distance: float = 0.06          # m the object may move from its initial position
    hand: str = "hand"
    hand_overrides: dict[str, Any] = field(default_factory=dict)   # HandConfig keys replacing the file's
    reality: str = "nominal"             # config/reality/<name>.yaml: the world the env simulates
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    grasp: grasp_mod.GraspConfig = field(default_factory=grasp_mod.GraspConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    nthread: int = 2
    # Physics backend (sim.batch_stepper): "mujoco" (C MuJoCo, ``nthread`` Python threads; best up
    # to ~8 cores), "mujoco_rollout" (C MuJoCo in mujoco.rollout's ``nthread`` native threads;
    # for many cores) or "warp" (MuJoCo Warp on ``warp_device``, "" = CUDA if present, else CPU;
    # contact and constraint buffers per world).
    backend: str = "mujoco"
    warp_device: str = ""
    warp_nconmax: int = 32
    warp_njmax: int = 256
    # Where the per-step state and math live: "numpy" (host), or "torch": tensors on the physics
    # device (the Warp device with backend warp: float32, no copy of the worlds' state to the host
    # per step; the CPU in float64 with the C backends, the same numbers as numpy). Observations,
    # rewards and dones come back of that kind.
    arrays: str = "numpy"
    seed: int = 0

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"env.backend: unknown physics backend '{self.backend}'; valid: {list(BACKENDS)}")
        if self.arrays not in ARRAY_KINDS:
            raise ValueError(f"env.arrays: unknown array kind '{self.arrays}'; valid: {list(ARRAY_KINDS)}")


def build_object_model(hand_cfg: HandConfig, obj) -> mujoco.MjModel:
    spec = hand_spec(hand_cfg, "palm_up")
    objects.add_object(spec, obj, body_name="object", pos=list(np.add(hand_cfg.mount_pos, GRASP_CENTRE_IN_HAND)))
    sensors.add_rotation_sensors(spec)
    model = spec.compile()
    sensors.check_layout(model)
    return model


class RotationEnv:
    def __init__(self, cfg: EnvConfig):
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.hand_cfg = HandConfig.load(cfg.hand, cfg.hand_overrides)
        for w in cfg.wrists:
            if w != "random" and w not in NAMED_WRISTS:
                raise ValueError(f"unknown wrist '{w}'; valid: {list(NAMED_WRISTS) + ['random']}")
        self.axes = axis_set(cfg.axis_set)
        self.objects = objects.object_set(cfg.object_set, seed=cfg.object_seed)
        self.base_models = [build_object_model(self.hand_cfg, o) for o in self.objects]
        self.layout = sensors.sensor_layout()
        m0 = self.base_models[0]
        self.qadr = joint_qpos_addr(m0)
        self.dadr = joint_dof_addr(m0)
        self.obj_body = m0.body("object").id
        self.obj_qadr = m0.jnt_qposadr[m0.body("object").jntadr[0]]
        self.nstate = mujoco.mj_stateSize(m0, STATE_SPEC)
        self.substeps = self.hand_cfg.substeps
        self.centre = np.add(self.hand_cfg.mount_pos, GRASP_CENTRE_IN_HAND)
        grasps = [self._grasps_for(m, o, k, cfg.wrists) for k, (m, o) in enumerate(zip(self.base_models, self.objects))]
        # An object the canonical grasp cannot hold (e.g. a thin test object for some wrist) is
        # left out, and said so, rather than failing the whole environment.
        keep = [k for k, g in enumerate(grasps) if all(len(x) for x in g)]
        self.skipped_objects = [self.objects[k].name for k in range(len(self.objects)) if k not in keep]
        if not keep:
            raise RuntimeError(f"no stable grasp for any object of '{cfg.object_set}' with wrists {cfg.wrists}")
        if self.skipped_objects:
            warnings.warn(f"no stable grasp, left out: {self.skipped_objects}", stacklevel=2)
        self.objects = [self.objects[k] for k in keep]
        self.object_index = keep                        # each kept object's number in the object set
        self.base_models = [self.base_models[k] for k in keep]
        self.grasps = [grasps[k] for k in keep]
        self.profile = reality.load_profile(cfg.reality)
        self.nominals = [reality.capture_nominal(m) for m in self.base_models]

        n = self.num_envs = cfg.num_envs
        self.obj_of_env = np.arange(n) % len(self.objects)
        self.models = [copy.copy(self.base_models[k]) for k in self.obj_of_env]
        # mj_setConst scratch data, one per object model (objects differ in geom counts).
        self._scratch = [mujoco.MjData(m) for m in self.base_models]
        self.stepper = make_stepper(cfg, self.models, self.substeps, self.obj_body)
        self.command_filter = reality.CommandFilter.from_profile(self.profile, n)
        self.sensor_model = reality.SensorModel.from_profile(self.profile)

        self._setup_arrays()
        zeros = self._zeros
        self.state = zeros((n, self.nstate))
        self.sens = zeros((n, self.layout.size))
        self.targets = zeros((n, 16))
        # World-side additive offset on the command (a residual policy's correction): reaches the
        # hand, never the targets the policy observes.
        self.target_offset = zeros((n, 16))
        self.commanded = zeros((n, 16))       # last targets sent to the world (base + residual)
        # A learned model of the world's actuation gap (baselines.correction: UAN, ASAP), called
        # each step with this env and adding its correction to what reaches the simulated hand.
        self.command_correction = None
        self.q_init = zeros((n, 16))
        self.q_hist = zeros((n, cfg.history, 16))
        self.a_hist = zeros((n, cfg.history, 16))      # a_{k-1}, the target in force when q_k was measured
        self.wrist = zeros((n, 4))
        self.axis_world = zeros((n, 3))
        self.axis_hand = zeros((n, 3))
        self.goal = zeros((n, 4))
        self.obj_start = zeros((n, 3))
        self.force = zeros((n, 3))
        self.episode_length = zeros(n, int)
        self.episode_rot = zeros(n)
        self.obj_mass = zeros(n)
        self.resets = np.zeros(n, dtype=np.int64)       # host: read at resets only
        self.physics_seconds = 0.0      # time spent in the physics (for throughput reports)
        self.training_steps: int | None = None   # set by a trainer: drives the curriculum
        self.axis_index = np.zeros(n, dtype=np.int64)
        self.axis_ttf = np.full(len(self.axes), 0.5)   # running time to fall per axis (balancing)
        self.centre_dev = self._dev(self.centre)      # the grasp centre where the step needs it
        self.reset(np.arange(n))
        self.device_resets = None        # later episodes start on the device (sim.device_reset)
        if cfg.arrays == "torch" and cfg.backend == "warp":
            from dexndm_learning.sim.device_reset import DeviceResets

            self.device_resets = DeviceResets(self)

    # ------------------------------------------------------------------ set-up
    def _setup_arrays(self) -> None:
        """The array kind of the per-step state (``EnvConfig.arrays``): numpy, or torch tensors on
        the physics device; the step's random draws come from ``self.random`` of the same kind."""
        cfg = self.cfg
        self.xp = np
        self.random = self.rng
        self._zeros = lambda shape, dtype=float: np.zeros(shape, dtype=dtype)
        self._goal_step = np.deg2rad(cfg.reward.goal_step_deg)
        self._q_cols = 1 + self.qadr
        self._qdot_cols = 1 + self.base_models[0].nq + self.dadr
        if cfg.arrays == "numpy":
            return
        import torch

        from dexndm_learning.arrays import TorchRandom, namespace

        if cfg.backend == "warp":
            device, dtype = torch.device(str(self.stepper.device)), torch.float32
        else:
            device, dtype = torch.device("cpu"), torch.float64
        self.xp = namespace(torch.zeros(1))
        self.random = TorchRandom(cfg.seed, device, dtype)
        self._zeros = lambda shape, dtype_=float: torch.zeros(shape, dtype=dtype if dtype_ is float else torch.int64,
                                                              device=device)
        self._q_cols, self._qdot_cols = (torch.as_tensor(c, device=device) for c in (self._q_cols, self._qdot_cols))
        ref = self._zeros(1)
        self.command_filter.place_like(ref)
        self.sensor_model.place_like(ref, self.random)

    def _host(self, x) -> np.ndarray:
        """``x`` as a numpy array (a copy from the device for tensors)."""
        return x.cpu().numpy() if self.xp is not np else np.asarray(x)

    def _dev(self, x):
        """Host values ``x`` as an array of the env's kind and float dtype, on its device."""
        return x if self.xp is np else like(x, self.state)

    def _grasps_for(self, model, obj, k: int, wrists: list[str]) -> list[grasp_mod.GraspSet]:
        """One grasp set per entry of ``wrists`` for object ``obj``, number k of the object set
        (cached on disk; may be empty)."""
        return [grasp_mod.grasps_for(model, self.hand_cfg, obj, k, w, self.cfg.grasp,
                                     self.cfg.random_wrist_pool, self.cfg.nthread) for w in wrists]

    def objects_without_grasps(self, wrists: list[str]) -> list[str]:
        """This env's objects with no start grasp under some of ``wrists``: those an env with
        those wrists leaves out."""
        return [o.name for o, m, k in zip(self.objects, self.base_models, self.object_index)
                if not all(len(g) for g in self._grasps_for(m, o, k, wrists))]

    # ------------------------------------------------------------------ reset
    def reset(self, env_ids) -> None:
        """Start new episodes in envs ``env_ids`` (host indices): sampled on the host (grasp, wrist,
        axis, randomized world), then written into the env's arrays in one go."""
        cfg = self.cfg
        g_scale = self.gravity_scale()
        p_axis = self.axis_probabilities()
        balanced = not np.allclose(p_axis, p_axis[0])
        ids = np.asarray(env_ids, dtype=np.int64)
        m = len(ids)
        state, targets = np.zeros((m, self.nstate)), np.zeros((m, 16))
        wrist, axis_world, axis_hand, mass = np.zeros((m, 4)), np.zeros((m, 3)), np.zeros((m, 3)), np.zeros(m)
        for j, i in enumerate(ids):
            k = self.obj_of_env[i]
            gs = self.grasps[k][self.rng.integers(len(cfg.wrists))]
            g = self.rng.integers(len(gs))
            state[j], targets[j], wrist[j] = gs.states[g], gs.targets[g], gs.wrists[g]
            model = self.models[i]
            model.opt.gravity[:] = g_scale * gravity_in_hand(wrist[j])
            self._set_world(i, model, k)
            self.axis_index[i] = (self.rng.choice(len(self.axes), p=p_axis) if balanced
                                  else self.rng.integers(len(self.axes)))
            axis_world[j] = self.axes[self.axis_index[i]]
            axis_hand[j] = from_wxyz(wrist[j]).inv().apply(axis_world[j])
            mass[j] = model.body_mass[self.obj_body]
        if not m:
            return
        sens = self.stepper.set_states(ids, state, targets)
        dev, ids_dev = self._dev, ids if self.xp is np else self._dev_index(ids)
        self.state[ids_dev], self.sens[ids_dev], self.targets[ids_dev] = dev(state), dev(sens), dev(targets)
        self.wrist[ids_dev], self.axis_world[ids_dev], self.axis_hand[ids_dev] = dev(wrist), dev(axis_world), dev(axis_hand)
        self.obj_mass[ids_dev] = dev(mass)
        q = dev(state[:, 1 + self.qadr])
        self.q_init[ids_dev] = q
        self.q_hist[ids_dev] = self.sensor_model.measure(q)[:, None]
        self.a_hist[ids_dev] = dev(targets)[:, None]
        self.command_filter.reset(dev(targets), ids_dev)
        quat = self.sens[ids_dev, self.layout.obj_quat]
        self.goal[ids_dev] = rotate_quat_about(quat, self.axis_hand[ids_dev], dev(np.full(m, self._goal_step)))
        self.obj_start[ids_dev] = self.sens[ids_dev, self.layout.obj_pos]
        self.force[ids_dev] = 0.0
        self.episode_length[ids_dev] = 0
        self.episode_rot[ids_dev] = 0.0

    def _dev_index(self, ids: np.ndarray):
        import torch

        return torch.as_tensor(ids, device=self.state.device)

    def gravity_scale(self) -> float:
        """Fraction of full gravity for episodes starting now (1 unless a trainer drives the curriculum)."""
        c = self.cfg.curriculum
        if self.training_steps is None or c.gravity_full_steps <= 0:
            return 1.0
        return float(c.gravity_start + (1.0 - c.gravity_start) * min(1.0, self.training_steps / c.gravity_full_steps))

    def axis_probabilities(self) -> np.ndarray:
        """Sampling probability of each axis of the set for episodes starting now: uniform unless a
        trainer drives the curriculum with axis balancing on."""
        c = self.cfg.curriculum
        if self.training_steps is None or c.balance_axes_ema <= 0:
            return np.full(len(self.axes), 1.0 / len(self.axes))
        w = 1.0 - self.axis_ttf + c.balance_floor
        return w / w.sum()

    def _record_axis_ttf(self, ids: np.ndarray) -> None:
        a = self.cfg.curriculum.balance_axes_ema
        if a <= 0:          # balancing off: nothing reads the running TTF (called every step)
            return
        for i in ids:
            k = self.axis_index[i]
            self.axis_ttf[k] += a * (self.episode_length[i] / self.cfg.episode_steps - self.axis_ttf[k])

    def _set_world(self, i: int, model: mujoco.MjModel, k: int) -> None:
        """The reality profile's world, then training randomization around it (if enabled)."""
        reality.apply_profile(model, self.profile, self.nominals[k], self._scratch[k])
        r = self.cfg.randomization
        if not r.enabled:
            return
        b = self.obj_body
        geoms = np.flatnonzero(model.geom_bodyid == b)
        mass = self.rng.uniform(*r.object_mass)
        model.body_inertia[b] *= mass / model.body_mass[b]
        model.body_mass[b] = mass
        model.geom_friction[geoms, 0] = self.rng.uniform(*r.object_friction)
        kp = model.actuator_gainprm[:16, 0] * self.rng.uniform(*r.kp_scale, 16)
        kd = -model.actuator_biasprm[:16, 2] * self.rng.uniform(*r.kd_scale, 16)
        set_pd_gains(model, kp, kd)
        # Constraint regularization depends on inverse inertias computed at compile time;
        # without this a changed mass makes contacts too stiff or too soft (and diverge).
        mujoco.mj_setConst(model, self._scratch[k])

    # ------------------------------------------------------------------ step
    def step(self, actions):
        """One control step of every env: ``actions`` (N, 16) in [-1, 1] (numpy, or a tensor with
        ``arrays: torch``) -> observations, reward, done, info, of the env's array kind. Envs that
        are done start a new episode (info holds the state the step reached). Tensors are computed
        in inference mode, so the env's state never joins a trainer's autograd graph."""
        if self.xp is np:
            return self._step(actions)
        import torch

        with torch.inference_mode():
            return self._step(actions)

    def _step(self, actions):
        cfg, xp = self.cfg, self.xp
        a = np.asarray(actions) if xp is np else self._dev(actions)
        a = xp.clip(xp.where(xp.isnan(a), 0.0, a), -1.0, 1.0)
        self.targets = contract.base_target(self.targets, a, cfg.action_scale)
        self._disturb()
        self.commanded = contract.commanded_target(self.targets, self.target_offset)   # sent to the world
        sent = self.commanded
        if self.command_correction is not None:
            if xp is not np:
                raise ValueError("command_correction (UAN, ASAP) runs on numpy envs only: env.arrays must be 'numpy'")
            sent = joint_order.clip_to_limits(sent + self.command_correction(self))
        applied = self.command_filter.step(sent)                   # latency and backlash of the world
        t0 = time.perf_counter()
        if xp is np or getattr(self.stepper, "takes_tensors", False):
            self.stepper.step(applied, self.force, self.state, self.sens)
        else:                                                      # torch on the CPU, C MuJoCo: shared memory
            self.stepper.step(applied.numpy(), self.force.numpy(), self.state.numpy(), self.sens.numpy())
        self.physics_seconds += time.perf_counter() - t0
        self.episode_length += 1

        s = sensors.split(self.sens, self.layout)
        q = self.state[:, self._q_cols]
        qdot = self.state[:, self._qdot_cols]
        omega, lin = s["obj_angvel"], s["obj_linvel"]
        goal_diff = quat_angle(s["obj_quat"], self.goal)
        distance = xp.linalg.vector_norm(s["obj_pos"] - self.obj_start, axis=1)
        terms = reward_terms(cfg.reward, omega, self.axis_hand, lin, q, self.q_init, s["torque"], qdot, goal_diff,
                             distance)
        resets = self.resets.mean()
        a_rotp = rotp_weight(cfg.reward, resets if self.device_resets is not None else float(resets))
        reward = terms.total(cfg.reward, a_rotp)

        reached = goal_diff < np.deg2rad(cfg.reward.goal_threshold_deg)
        advanced = rotate_quat_about(self.goal, self.axis_hand, xp.full_like(goal_diff, self._goal_step))
        self.goal = xp.where(reached[:, None], advanced, self.goal)
        velocities = self.state[:, 1 + self.models[0].nq:]
        finite = (xp.all(xp.isfinite(self.state), axis=1) & xp.all(xp.isfinite(self.sens), axis=1)
                  & (xp.max(xp.abs(velocities), axis=1) < MAX_SPEED))
        dropped = ~finite | (distance > cfg.drop_distance)
        if self.training_steps is not None and cfg.curriculum.stray_distance > 0:
            dropped |= distance > cfg.curriculum.stray_distance
        dropped_f = xp.astype(dropped, reward.dtype)
        reward = xp.where(finite, reward, 0.0) - cfg.reward.drop_penalty * dropped_f
        time_out = (self.episode_length >= cfg.episode_steps) & ~dropped
        done = dropped | time_out
        self.episode_rot += xp.where(finite, xp.sum(omega * self.axis_hand, axis=1), 0.0)

        measured = self.sensor_model.measure(q)
        noisy_q = measured + self.random.uniform(-cfg.joint_noise, cfg.joint_noise, q.shape)
        # q_{t+1} is paired with a_t, the target that was commanded while it was reached.
        self.q_hist = xp.concat([self.q_hist[:, 1:], noisy_q[:, None]], axis=1)
        self.a_hist = xp.concat([self.a_hist[:, 1:], self.targets[:, None]], axis=1)

        copy = self._copy
        info = {
            "time_out": time_out,
            "dropped": dropped,
            "unstable": ~finite,
            "terms": terms,
            "a_rotp": a_rotp,
            "episode_rot": copy(self.episode_rot),
            "episode_length": copy(self.episode_length),
            "omega": omega,
            "axis_hand": copy(self.axis_hand),
            # the state reached by this step, before any reset below overwrites it
            "q": copy(q),
            "targets": copy(self.targets),
            "obj_pos": s["obj_pos"] - self.centre_dev,
            "obj_quat": copy(s["obj_quat"]),
        }
        if self.device_resets is not None:
            self.device_resets.reset(done)
            return self.observations(), xp.astype(reward, xp.float32), done, info
        # New episodes are sampled on the host: with torch arrays this reads the done envs' indices.
        ids = np.flatnonzero(done) if xp is np else self._host(xp.nonzero(done)[0])
        if len(ids):
            self._record_axis_ttf(ids)
            self.resets[ids] += 1
            self.reset(ids)
        return self.observations(), xp.astype(reward, xp.float32), done, info

    def _copy(self, x):
        return self.xp.asarray(x, copy=True)

    def _disturb(self) -> None:
        """Resample the object disturbance force of each env with probability ``disturbance_prob``:
        ``disturbance_scale`` x object mass, in a random direction. numpy draws the directions of
        the resampled envs only (the random stream published evaluations were made with); a device
        draws all and selects, so that no count comes back to the host."""
        cfg, n, xp = self.cfg, self.num_envs, self.xp
        resample = self.random.random(n) < cfg.disturbance_prob
        if xp is np:
            if resample.any():
                d = self.random.normal(size=(int(resample.sum()), 3))
                d /= np.linalg.norm(d, axis=1, keepdims=True)
                self.force[resample] = cfg.disturbance_scale * self.obj_mass[resample, None] * d
            return
        d = self.random.normal((n, 3))
        d = d / xp.linalg.vector_norm(d, axis=1, keepdims=True)
        self.force = xp.where(resample[:, None], cfg.disturbance_scale * self.obj_mass[:, None] * d, self.force)

    # ------------------------------------------------------------------ observations
    def observations(self) -> dict[str, np.ndarray]:
        return {"oracle": self._oracle_obs(), "proprio": self._proprio_obs()}

    def _proprio_obs(self) -> np.ndarray:
        return contract.proprio_from_history(self.q_hist, self.a_hist, self.wrist, self.axis_world)

    def _oracle_obs(self):
        """q and target histories (3 steps each, 96), joint velocities (16), fingertip pose and
        velocity (4 x 13), object pose relative to the grasp centre and velocity (13), goal
        quaternion (4), link contact forces and binary contacts (17 + 17), wrist quaternion (4),
        axis in world and hand frames (6) = 225 values."""
        xp, n = self.xp, self.num_envs
        s = sensors.split(self.sens, self.layout)
        centre = self.centre_dev
        qdot = self.state[:, self._qdot_cols]
        targets_hist = self.a_hist[:, -3:]          # a_{t-2}, a_{t-1}, a_t
        touch = s["touch"]
        parts = [
            xp.reshape(self.q_hist[:, -3:], (n, -1)),
            xp.reshape(targets_hist, (n, -1)),
            0.1 * qdot,
            xp.reshape(xp.reshape(s["tip_pos"], (n, 4, 3)) - centre, (n, -1)),
            s["tip_quat"], 0.1 * s["tip_linvel"], 0.1 * s["tip_angvel"],
            s["obj_pos"] - centre, s["obj_quat"], s["obj_linvel"], 0.1 * s["obj_angvel"],
            self.goal,
            xp.tanh(touch), xp.astype(touch > 0.01, touch.dtype),
            self.wrist, self.axis_world, self.axis_hand,
        ]
        return xp.astype(xp.concat(parts, axis=1), xp.float32)
