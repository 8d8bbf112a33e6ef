"""Episode starts on the physics device: ``RotationEnv.reset`` for MuJoCo Warp with ``arrays: torch``.

The host ``reset`` samples each new episode in Python and loads it world by world; with thousands
of worlds some reset at every step, so on a GPU that would bring every step back to the host.
``DeviceResets`` does the same sampling with torch on the device for every world at once and keeps
the result only where an episode ended (``torch.where`` on the done mask: no count or index leaves
the device):
- the start: one of the object's cached grasps for a random entry of ``wrists`` (the grasp sets are
  copied to the device once, with each grasp's wrist, gravity direction and hand frame);
- the axis: uniform over the set, or weighted by the running time to fall under axis balancing
  (the running value of an axis moves as if its episodes ending at this step had ended one by one
  with their mean length);
- the world: training randomization (object mass and, with it, inertia; object friction; per-joint
  kp and kd) around the reality profile's values, written into Warp's per-world model fields, then
  ``set_const`` and ``forward`` (``WarpStepper.load_where``); without randomization the worlds
  keep the profile's parameters and only the wrist's gravity is written.
The draws come from the env's ``TorchRandom``: the host reset's distributions, not its numbers.
After the first reset the host ``MjModel`` of each env (``env.models``) is not updated any more.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from dexndm_learning.sim import reality
from dexndm_learning.sim.rotation_reward import rotate_quat_about
from dexndm_learning.sim.warp_stepper import WorldParams
from dexndm_learning.sim.wrist import from_wxyz, gravity_in_hand


class DeviceResets:
    def __init__(self, env):
        self.env = env
        cfg = env.cfg
        dev, dtype = env.state.device, env.state.dtype
        self.as_dev = lambda x, dt=dtype: torch.as_tensor(np.asarray(x), dtype=dt, device=dev)
        n_obj, n_wrist = len(env.objects), len(cfg.wrists)
        size = max(len(gs) for per_object in env.grasps for gs in per_object)
        states = np.zeros((n_obj, n_wrist, size, env.nstate))
        targets, wrists = np.zeros((n_obj, n_wrist, size, 16)), np.zeros((n_obj, n_wrist, size, 4))
        gravity, hand_from_world = np.zeros((n_obj, n_wrist, size, 3)), np.zeros((n_obj, n_wrist, size, 3, 3))
        counts = np.zeros((n_obj, n_wrist))
        for k, per_object in enumerate(env.grasps):
            for w, gs in enumerate(per_object):
                m = len(gs)
                counts[k, w] = m
                states[k, w, :m], targets[k, w, :m], wrists[k, w, :m] = gs.states, gs.targets, gs.wrists
                gravity[k, w, :m] = [gravity_in_hand(q) for q in gs.wrists]
                hand_from_world[k, w, :m] = from_wxyz(gs.wrists).inv().as_matrix()
        self.states, self.targets, self.wrists = self.as_dev(states), self.as_dev(targets), self.as_dev(wrists)
        self.gravity, self.hand_from_world, self.counts = self.as_dev(gravity), self.as_dev(hand_from_world), self.as_dev(counts)
        self.obj = self.as_dev(env.obj_of_env, torch.int64)
        self.axes = self.as_dev(env.axes)
        # The profile's world of each object, before randomization: what randomization scales.
        base = []
        for k, model in enumerate(env.base_models):
            m = copy.copy(model)
            reality.apply_profile(m, env.profile, env.nominals[k], env._scratch[k])
            b = env.obj_body
            base.append((m.body_mass[b], m.body_inertia[b], m.actuator_gainprm[:16, 0], -m.actuator_biasprm[:16, 2]))
        mass, inertia, kp, kd = (self.as_dev(np.stack(x))[self.obj] for x in zip(*base))
        self.base = WorldParams(mass, inertia, None, kp, kd, gravity=None)    # friction is drawn, not scaled
        env.resets = self.as_dev(env.resets)
        env.axis_ttf = self.as_dev(env.axis_ttf)
        env.axis_index = self.as_dev(env.axis_index, torch.int64)

    def world_params(self, gravity) -> WorldParams:
        """Randomized parameters for every env (used where an episode starts); without
        randomization only the gravity (the worlds keep the profile's parameters)."""
        env, r = self.env, self.env.cfg.randomization
        b = self.base
        if not r.enabled:
            return WorldParams(None, None, None, None, None, gravity)
        n, rnd = env.num_envs, env.random
        mass = rnd.uniform(*r.object_mass, (n,))
        return WorldParams(mass, b.inertia * (mass / b.mass)[:, None], rnd.uniform(*r.object_friction, (n,)),
                           b.kp * rnd.uniform(*r.kp_scale, (n, 16)), b.kd * rnd.uniform(*r.kd_scale, (n, 16)), gravity)

    def sample_axes(self):
        env, c = self.env, self.env.cfg.curriculum
        n, n_axes = env.num_envs, len(self.axes)
        if env.training_steps is None or c.balance_axes_ema <= 0:
            return torch.floor(env.random.random((n,)) * n_axes).long().clamp(max=n_axes - 1)
        weights = 1.0 - env.axis_ttf + c.balance_floor
        return torch.multinomial(weights.expand(n, n_axes), 1, generator=env.random.gen).squeeze(1)

    def record_axis_ttf(self, done) -> None:
        env, ema = self.env, self.env.cfg.curriculum.balance_axes_ema
        if ema <= 0:
            return
        onehot = torch.nn.functional.one_hot(env.axis_index, len(self.axes)).to(env.axis_ttf.dtype) * done[:, None]
        count = onehot.sum(0)
        mean = (onehot * (env.episode_length / env.cfg.episode_steps)[:, None]).sum(0) / count.clamp(min=1)
        decay = (1 - ema) ** count
        env.axis_ttf = decay * env.axis_ttf + (1 - decay) * mean

    def reset(self, done) -> None:
        """Start new episodes where ``done`` (N,) is true; all on the device."""
        env = self.env
        n, rnd = env.num_envs, env.random
        self.record_axis_ttf(done)
        env.resets = env.resets + done
        w = torch.floor(rnd.random((n,)) * self.wrists.shape[1]).long().clamp(max=self.wrists.shape[1] - 1)
        count = self.counts[self.obj, w]
        g = torch.minimum(torch.floor(rnd.random((n,)) * count), count - 1).long()
        k = self.obj
        state, targets, wrist = self.states[k, w, g], self.targets[k, w, g], self.wrists[k, w, g]
        axis_index = self.sample_axes()
        axis_world = self.axes[axis_index]
        axis_hand = (self.hand_from_world[k, w, g] @ axis_world[:, :, None])[:, :, 0]
        params = self.world_params(env.gravity_scale() * self.gravity[k, w, g])
        sens = env.stepper.load_where(done, state, targets, params)

        def keep(new, old):
            return torch.where(done.view(-1, *[1] * (old.dim() - 1)), new.to(old.dtype), old)

        env.state, env.sens, env.targets = keep(state, env.state), keep(sens, env.sens), keep(targets, env.targets)
        env.wrist, env.axis_world = keep(wrist, env.wrist), keep(axis_world, env.axis_world)
        env.axis_hand = keep(axis_hand, env.axis_hand)
        env.axis_index = keep(axis_index, env.axis_index)
        env.obj_mass = keep(self.base.mass if params.mass is None else params.mass, env.obj_mass)
        q = state[:, env._q_cols]
        env.q_init = keep(q, env.q_init)
        env.q_hist = keep(env.sensor_model.measure(q)[:, None].expand_as(env.q_hist), env.q_hist)
        env.a_hist = keep(targets[:, None].expand_as(env.a_hist), env.a_hist)
        env.command_filter.reset_where(done, targets)
        lay = env.layout
        goal = rotate_quat_about(sens[:, lay.obj_quat], axis_hand, torch.full_like(count, env._goal_step))
        env.goal = keep(goal, env.goal)
        env.obj_start = keep(sens[:, lay.obj_pos], env.obj_start)
        env.force = keep(torch.zeros_like(env.force), env.force)
        env.episode_length = keep(torch.zeros_like(env.episode_length), env.episode_length)
        env.episode_rot = keep(torch.zeros_like(env.episode_rot), env.episode_rot)
