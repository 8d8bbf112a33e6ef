"""The rotation policy's tick, with its safety rules, free of ROS (unit-testable, benchmarkable).

Observations are built exactly as in training (``dexndm_learning.sim.rotation_env``): a history
of ``history`` steps of (q_k, a_{k-1}) interleaved, the wrist quaternion (w, x, y, z, w >= 0)
and the commanded axis in the world frame. Each tick appends the measured q paired with the base
target that was in force while it was reached (the one the previous tick computed), as
``RotationEnv.step`` pairs q_{t+1} with a_t.

Base and residual: the base target follows the training recursion
``a_t = clip_to_limits(a_{t-1} + action_scale * da_t)`` and never includes the residual (so the
residual cannot accumulate); the commanded target is ``a_t + residual`` (method.md section 9).
The residual policy sees the base observation followed by ``a_t``. A residual that carries a gate
(``dexndm_learning.residual.gate``) is scaled per joint by it before the cap's composition, from the
last W (measured q, commanded target) pairs; the mean scale goes out in ``PolicyStatus``.

Safety, in order, each tick:

- e-stop latched, the hand reporting a motor alarm (``set_hardware_fault``; once it is cleared the
  policy restarts from the hand's targets, as at first activation, since the rebooted motors hold
  where they are), policy disabled (enable input false or MODE_OFF), MODE_HOLD, or inputs stale
  (joint state, or wrist when it comes from a topic, older than its timeout; a joint state with
  NaN/inf counts as stale): the policy is not evaluated and the last safe target is held;
- non-finite policy output: the last safe target is held (FLAG_NONFINITE);
- the commanded target is ``contract.commanded_target(a_t, residual)``: the residual capped per
  joint at ``contract.RESIDUAL_CAP`` (FLAG_RESIDUAL_CAPPED; the artifact's tanh bound is that cap,
  checked on load, so only a malformed output trips it), the same rule as in residual training and
  the sim-to-sim evaluation;
- the target is clamped to the joint limits (FLAG_TARGET_CLAMPED, also when the base recursion
  itself was clamped), then each joint's change from the last safe target is limited to
  ``max_step`` (FLAG_STEP_CAPPED).

Whenever the policy starts running again (first activation, enable, MODE_ROTATE after hold or
off, e-stop reset, states fresh again) the history is re-initialised as at an environment reset:
every q entry = the current joint state, every target entry = the last safe target. On first
activation there is no safe target yet: it starts from the position targets the hand holds
(``set_hand_target``, clamped to the limits) if a sample is fresh (within ``state_timeout``),
else from the current joint state, clamped. Starting from the hand's targets is a bumpless start:
with an object in the grasp the targets sit inside the object (measured q differs by the contact
deflection), so starting from measured q would release the squeeze; training resets likewise pair
the settled q with the grasp's targets. ``started_from`` says which was used.

E-stop: ``set_estop(True)`` latches it and disables the policy; it is cleared only by an enable
``set_enabled(True)`` received while the e-stop input is false.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import ArtifactError, DeployablePolicy
from dexndm_learning.residual.gate import GateHistory
from dexndm_learning.sim.wrist import from_wxyz, to_wxyz

NJ = joint_order.NUM_JOINTS


class Flag(enum.IntFlag):
    """Same bits as ``dexndm_msgs/PolicyStatus`` (checked in the tests)."""

    STATE_STALE = 1
    TARGET_CLAMPED = 2
    STEP_CAPPED = 4
    NONFINITE = 8
    RESIDUAL_CAPPED = 16
    ESTOP = 32
    DISABLED = 64
    HARDWARE_FAULT = 128


class Mode(enum.IntEnum):
    """Same values as ``dexndm_msgs/RotationCommand``."""

    OFF = 0
    ROTATE = 1
    HOLD = 2


@dataclass
class SafetyConfig:
    max_step: float = 0.1            # rad per tick and joint, on the commanded target
    state_timeout: float = 0.1       # s since the last joint state arrived
    wrist_timeout: float = math.inf  # s since the last wrist orientation arrived (inf: fixed wrist)


@dataclass(frozen=True)
class Sample:
    """A measured value and the time it arrived (seconds, the runtime's clock)."""

    value: np.ndarray
    time: float


@dataclass
class TickOutput:
    target: np.ndarray | None   # None: nothing safe to command yet
    flags: Flag
    base_norm: float = 0.0      # |da| of the base policy's raw action
    residual_norm: float = 0.0  # |residual| after the cap and the gate (rad)
    residual_scale: float = 1.0  # mean over joints of the residual gate's scale (1: no gate)


def check_artifacts(base: DeployablePolicy, residual: DeployablePolicy | None) -> None:
    """Raise ArtifactError unless ``base`` / ``residual`` fit each other and this runtime."""
    if base.kind != "base":
        raise ArtifactError(f"base policy artifact has kind '{base.kind}'")
    base_dim = contract.obs_dim(base.spec.history)
    if base.obs_dim != base_dim:
        raise ArtifactError(f"base policy takes {base.obs_dim} inputs, expected {base_dim}")
    if residual is None:
        return
    if residual.kind != "residual":
        raise ArtifactError(f"residual policy artifact has kind '{residual.kind}'")
    try:
        contract.check_residual_bound(residual.spec.residual_bound, "residual policy artifact")
    except ValueError as e:
        raise ArtifactError(str(e)) from None
    if residual.obs_dim != base_dim + NJ:
        raise ArtifactError(f"residual policy takes {residual.obs_dim} inputs, expected {base_dim + NJ}")


class StartSource(str, enum.Enum):
    """What the first safe target was taken from."""

    HAND_TARGETS = "hand targets"
    MEASURED = "measured joint positions"


class PolicyRuntime:
    def __init__(self, base: DeployablePolicy, residual: DeployablePolicy | None, cfg: SafetyConfig):
        check_artifacts(base, residual)
        self.base, self.residual, self.cfg = base, residual, cfg
        h = base.spec.history
        self._obs = np.zeros(base.obs_dim + (NJ if residual is not None else 0), np.float32)
        self._hist = self._obs[:2 * h * NJ].reshape(h, 2, NJ)   # view: [k, 0] = q_k, [k, 1] = its target
        self._base_target = np.zeros(NJ)
        self.safe_target: np.ndarray | None = None   # last target returned (held when not running)
        self._running = False
        self.mode = Mode.OFF
        self.axis = np.array([0.0, 0.0, 1.0])
        self.wrist: Sample | None = None
        self.hand_target: Sample | None = None   # position targets the hand holds (first activation)
        self.started_from: StartSource | None = None
        self.enabled = True
        self.estop_input = False
        self.estop_latched = False
        self.hardware_fault = False
        gate = None if residual is None else residual.gate
        self._gate = None if gate is None else GateHistory(gate, 1)   # residual.gate: scale by NDM confidence

    # ------------------------------------------------------------------ inputs
    def set_wrist(self, quat_wxyz, now: float) -> None:
        """Wrist orientation world <- H; raises ValueError for NaN/inf or a zero quaternion."""
        q = np.asarray(quat_wxyz, dtype=float)
        if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-6:
            raise ValueError(f"wrist quaternion must be 4 finite numbers, not all zero; got {q}")
        self.wrist = Sample(to_wxyz(from_wxyz(q / np.linalg.norm(q))), now)

    def set_hand_target(self, values, now: float) -> None:
        """Position targets in force on the hand (MJ order, sim angles); raises ValueError (and
        keeps the previous sample) unless 16 finite numbers."""
        v = np.asarray(values, dtype=float)
        if v.shape != (NJ,) or not np.all(np.isfinite(v)):
            raise ValueError(f"hand target must be {NJ} finite numbers; got {v}")
        self.hand_target = Sample(v.copy(), now)

    def set_command(self, mode: int, axis=None) -> None:
        """MODE_ROTATE needs a finite non-zero ``axis`` (world frame); raises ValueError otherwise."""
        mode = Mode(mode)
        if mode == Mode.ROTATE:
            a = np.asarray(axis, dtype=float)
            n = np.linalg.norm(a) if a.shape == (3,) and np.all(np.isfinite(a)) else 0.0
            if not n > 1e-6:
                raise ValueError(f"rotation axis must be 3 finite numbers, not all zero; got {axis}")
            self.axis = a / n
        self.mode = mode

    def set_enabled(self, on: bool) -> None:
        if on and self.estop_latched:
            if self.estop_input:
                return   # e-stop still pressed: stays latched
            self.estop_latched = False
        self.enabled = bool(on)

    def set_hardware_fault(self, on: bool) -> None:
        """The hand's motor alarm (the driver's fault topic): hold while it lasts; afterwards start
        again from the hand's targets."""
        if self.hardware_fault and not on:
            # Start again from targets the hand publishes after the reboot (its motors hold where
            # they are), not from samples that may predate it; without one, from measured q.
            self.safe_target, self.hand_target = None, None
        self.hardware_fault = bool(on)

    def set_estop(self, on: bool) -> None:
        self.estop_input = bool(on)
        if on:
            self.estop_latched = True
            self.enabled = False

    # ------------------------------------------------------------------ tick
    def tick(self, state: Sample | None, now: float) -> TickOutput:
        flags = Flag(0)
        if self.estop_latched:
            flags |= Flag.ESTOP
        if self.hardware_fault:
            flags |= Flag.HARDWARE_FAULT
        if not self.enabled or self.mode == Mode.OFF:
            flags |= Flag.DISABLED
        stale = (state is None or now - state.time > self.cfg.state_timeout
                 or not np.all(np.isfinite(state.value))
                 or self.wrist is None or now - self.wrist.time > self.cfg.wrist_timeout)
        if stale:
            flags |= Flag.STATE_STALE
        if flags or self.mode != Mode.ROTATE:
            self._running = False
            return TickOutput(self.safe_target, flags)

        q = np.asarray(state.value, dtype=float)
        if not self._running:
            self._restart(q, now)
        self._hist[:-1] = self._hist[1:]
        self._hist[-1, 0] = q
        self._hist[-1, 1] = self._base_target

        obs = self._obs
        n_hist = self._hist.size
        obs[n_hist:n_hist + 4] = self.wrist.value
        obs[n_hist + 4:n_hist + 7] = self.axis
        base_dim = self.base.obs_dim
        da = np.asarray(self.base(obs[:base_dim]), dtype=float)
        if not np.all(np.isfinite(da)):
            return self._hold_nonfinite(q, flags)
        base_target = contract.base_target(self._base_target, da, self.base.spec.action_scale)
        if np.any(base_target != self._base_target + self.base.spec.action_scale * np.clip(da, -1.0, 1.0)):
            flags |= Flag.TARGET_CLAMPED

        res = np.zeros(NJ)
        if self.residual is not None:
            obs[base_dim:] = base_target
            res = np.asarray(self.residual(obs), dtype=float)
            if not np.all(np.isfinite(res)):
                return self._hold_nonfinite(q, flags, float(np.linalg.norm(da)))
            if np.any(np.abs(res) > contract.RESIDUAL_CAP * (1 + 1e-6)):     # float32 tanh may round just above
                flags |= Flag.RESIDUAL_CAPPED
            res = np.clip(res, -contract.RESIDUAL_CAP, contract.RESIDUAL_CAP)
        scale = 1.0
        if self._gate is not None:
            gated, joint_scale = self._gate.apply(q[None], base_target[None], res[None])
            res, scale = gated[0], float(joint_scale.mean())
        self._base_target = base_target

        target = contract.commanded_target(base_target, res)
        if np.any(target != base_target + res):
            flags |= Flag.TARGET_CLAMPED
        step = target - self.safe_target
        if np.any(np.abs(step) > self.cfg.max_step):
            flags |= Flag.STEP_CAPPED
            target = joint_order.clip_to_limits(
                self.safe_target + np.clip(step, -self.cfg.max_step, self.cfg.max_step))
        self.safe_target = target
        if self._gate is not None:
            self._gate.set_last_command(target[None])
        return TickOutput(target, flags, float(np.linalg.norm(da)), float(np.linalg.norm(res)), scale)

    def _hold_nonfinite(self, q: np.ndarray, flags: Flag, base_norm: float = 0.0) -> TickOutput:
        """Hold the last safe target; the gate's history moves on with the observation's (the held
        target is what the hand is commanded this tick)."""
        if self._gate is not None:
            self._gate.apply(q[None], self.safe_target[None], np.zeros((1, NJ)))
        return TickOutput(self.safe_target, flags | Flag.NONFINITE, base_norm)

    def _restart(self, q: np.ndarray, now: float) -> None:
        if self.safe_target is None:
            h = self.hand_target
            if h is not None and now - h.time <= self.cfg.state_timeout:
                self.safe_target, self.started_from = joint_order.clip_to_limits(h.value), StartSource.HAND_TARGETS
            else:
                self.safe_target, self.started_from = joint_order.clip_to_limits(q), StartSource.MEASURED
        self._hist[:, 0] = q
        self._hist[:, 1] = self.safe_target
        self._base_target = self.safe_target.copy()
        if self._gate is not None:
            self._gate.reset([0], q[None], self.safe_target[None])
        self._running = True
