"""The policy tick's safety rules one by one, without ROS (dexndm_control.runtime.policy_runtime)."""
import math

import numpy as np
import pytest

from dexndm_control.runtime.policy_runtime import Flag, Mode, PolicyRuntime, SafetyConfig, Sample, StartSource
from dexndm_control.testing.policies import RecordingPolicy, constant_policy, random_policy
from dexndm_control.runtime.tick_clock import TickClock
from dexndm_learning import joint_order as jo
from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import ArtifactError, PolicySpec, load_policy, save_policy
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.sim.wrist import wrist_quat
from dexndm_msgs.msg import PolicyStatus, RotationCommand

Q0 = jo.CANONICAL_GRASP.copy()
DT = 0.05


@pytest.fixture
def policies(tmp_path):
    def make(kind, value=None, **kw):
        path = tmp_path / f"{kind}-{len(list(tmp_path.iterdir()))}.pt"
        return load_policy(constant_policy(path, kind, value) if value is not None else random_policy(path, kind, **kw))
    return make


def running(base, residual=None, **cfg) -> PolicyRuntime:
    rt = PolicyRuntime(base, residual, SafetyConfig(**cfg))
    rt.set_wrist(wrist_quat("palm_down"), 0.0)
    rt.set_command(Mode.ROTATE, [0.0, 0.0, 1.0])
    return rt


def run(rt, n, q=Q0, t0=0.0):
    """n ticks with a fresh state q each; returns the outputs."""
    return [rt.tick(Sample(np.asarray(q, float), t0 + k * DT), t0 + k * DT) for k in range(n)]


def test_flag_and_mode_values_match_the_messages():
    for f in Flag:
        assert getattr(PolicyStatus, f"FLAG_{f.name}") == f.value
    for m in Mode:
        assert getattr(RotationCommand, f"MODE_{m.name}") == m.value


def test_targets_stay_within_the_joint_limits(policies):
    outs = run(running(policies("base", 1.0), max_step=1.0), 80)   # +1/24 rad per tick, 80 ticks
    final = outs[-1].target
    np.testing.assert_allclose(final, jo.UPPER)
    assert all(jo.within_limits(o.target) for o in outs)
    assert outs[-1].flags & Flag.TARGET_CLAMPED and not outs[0].flags & Flag.TARGET_CLAMPED


def test_step_per_tick_is_capped(policies):
    outs = run(running(policies("base", 1.0), max_step=0.01), 5)
    steps = np.abs(np.diff([jo.clip_to_limits(Q0)] + [o.target for o in outs], axis=0))
    assert steps.max() == pytest.approx(0.01)
    assert all(o.flags & Flag.STEP_CAPPED for o in outs)


@pytest.mark.parametrize("which", ["base", "residual"])
def test_nonfinite_policy_output_keeps_the_previous_target(policies, which):
    base = policies("base", 0.5)
    rt = running(base, policies("residual", 0.0))
    good = run(rt, 3)[-1].target
    if which == "base":
        rt.base = policies("base", math.nan)
    else:
        rt.residual = policies("residual", math.nan)   # inf would be bounded by tanh
    outs = run(rt, 3, t0=1.0)
    for o in outs:
        assert o.flags & Flag.NONFINITE
        np.testing.assert_array_equal(o.target, good)


def test_residual_is_capped_at_the_contract_cap(policies):
    base = policies("base", 0.0)
    cap = contract.RESIDUAL_CAP
    out = run(running(base, policies("residual", 100.0)), 1)[0]       # tanh saturates at the cap
    np.testing.assert_allclose(out.target, jo.clip_to_limits(Q0 + cap), atol=1e-6)
    assert out.residual_norm == pytest.approx(cap * 4, rel=1e-5)
    assert not out.flags & Flag.RESIDUAL_CAPPED

    class Oversized:                       # a malformed output beyond the cap is cut to it and flagged
        kind, obs_dim = "residual", contract.obs_dim() + jo.NUM_JOINTS
        spec = policies("residual", 0.0).spec

        def __call__(self, obs):
            return np.full(jo.NUM_JOINTS, 3 * cap)

    rt = running(base, policies("residual", 0.0))
    rt.residual = Oversized()
    out = run(rt, 1)[0]
    assert out.flags & Flag.RESIDUAL_CAPPED
    np.testing.assert_allclose(out.target, contract.commanded_target(Q0, np.full(jo.NUM_JOINTS, 3 * cap)))
    np.testing.assert_allclose(out.target, jo.clip_to_limits(Q0 + cap))


def test_a_residual_trained_with_another_bound_is_refused(policies, tmp_path):
    dim = contract.obs_dim() + jo.NUM_JOINTS
    save_policy(tmp_path / "r.pt", "residual", ResidualMLP(dim, jo.NUM_JOINTS, 8, 1),
                       PolicySpec(contract.HISTORY, np.zeros(dim), np.ones(dim), contract.ACTION_SCALE, residual_bound=0.02))
    with pytest.raises(ArtifactError, match="cap is 0.05"):
        PolicyRuntime(policies("base", 0.0), load_policy(tmp_path / "r.pt"), SafetyConfig())


def test_stale_or_nonfinite_state_holds_the_last_safe_target(policies):
    rt = running(policies("base", 0.5), state_timeout=0.1)
    held = run(rt, 3)[-1].target
    out = rt.tick(Sample(Q0, 0.1), 0.25)            # state 0.15 s old
    assert out.flags & Flag.STATE_STALE
    np.testing.assert_array_equal(out.target, held)
    bad = Q0.copy()
    bad[3] = np.nan
    out = rt.tick(Sample(bad, 0.3), 0.3)
    assert out.flags & Flag.STATE_STALE
    np.testing.assert_array_equal(out.target, held)
    assert rt.tick(None, 0.4).flags & Flag.STATE_STALE


def test_topic_wrist_goes_stale(policies):
    rt = running(policies("base", 0.5), wrist_timeout=0.5)
    rt.set_wrist(wrist_quat("palm_up"), 0.0)
    assert not rt.tick(Sample(Q0, 0.4), 0.4).flags
    assert rt.tick(Sample(Q0, 0.6), 0.6).flags & Flag.STATE_STALE
    with pytest.raises(ValueError):
        rt.set_wrist([0.0, 0.0, 0.0, 0.0], 1.0)


GRASP_TARGET = jo.clip_to_limits(Q0 + 0.08 * jo.FLEXION_JOINTS)
"""Targets "inside" a held object: measured q (Q0) lags them by the contact deflection."""


def test_first_activation_starts_from_fresh_hand_targets(policies):
    """Bumpless start: a zero-action policy keeps the hand's targets (the grasp squeeze) instead
    of commanding measured q; the history pairs measured q with those targets, as a training reset."""
    seen = []
    rt = running(RecordingPolicy(policies("base", 0.0), seen), state_timeout=0.1)
    rt.set_hand_target(GRASP_TARGET, 0.0)
    outs = run(rt, 3, t0=0.05)                      # hand target 0.05 s old at the first tick
    assert rt.started_from == StartSource.HAND_TARGETS
    assert np.any(GRASP_TARGET != jo.clip_to_limits(Q0))
    for o in outs:
        np.testing.assert_allclose(o.target, GRASP_TARGET, atol=1e-6)
    hist = seen[0][:320].reshape(10, 2, 16)
    np.testing.assert_allclose(hist[:, 0], np.broadcast_to(Q0, (10, 16)), atol=1e-6)
    np.testing.assert_allclose(hist[:, 1], np.broadcast_to(GRASP_TARGET, (10, 16)), atol=1e-6)
    rt.set_hand_target(Q0 + 0.2 * jo.FLEXION_JOINTS, 1.0)   # later restarts keep the last safe target
    rt.set_enabled(False)
    rt.tick(Sample(Q0, 1.0), 1.0)
    rt.set_enabled(True)
    np.testing.assert_allclose(rt.tick(Sample(Q0, 1.05), 1.05).target, GRASP_TARGET, atol=1e-6)


@pytest.mark.parametrize("hand_target_time", [None, 0.0])   # missing; 0.15 s old at the first tick
def test_first_activation_falls_back_to_measured_q(policies, hand_target_time):
    rt = running(policies("base", 0.0), state_timeout=0.1)
    if hand_target_time is not None:
        rt.set_hand_target(GRASP_TARGET, hand_target_time)
    out = run(rt, 1, t0=0.15)[0]
    assert rt.started_from == StartSource.MEASURED
    np.testing.assert_allclose(out.target, jo.clip_to_limits(Q0), atol=1e-6)


def test_nonfinite_hand_target_is_ignored(policies):
    rt = running(policies("base", 0.0))
    bad = GRASP_TARGET.copy()
    bad[5] = np.inf
    for values in (bad, np.full(16, np.nan), GRASP_TARGET[:15]):
        with pytest.raises(ValueError):
            rt.set_hand_target(values, 0.0)
    assert rt.hand_target is None
    np.testing.assert_allclose(run(rt, 1)[0].target, jo.clip_to_limits(Q0), atol=1e-6)
    assert rt.started_from == StartSource.MEASURED


def test_no_target_before_the_policy_first_runs(policies):
    rt = running(policies("base", 0.5))
    rt.set_command(Mode.HOLD)
    out = rt.tick(Sample(Q0, 0.0), 0.0)
    assert out.target is None and not out.flags


def test_estop_latches_until_false_then_enable(policies):
    rt = running(policies("base", 0.5))
    held = run(rt, 2)[-1].target
    rt.set_estop(True)
    for action in (lambda: None, lambda: rt.set_enabled(True), lambda: rt.set_estop(False)):
        action()
        out = rt.tick(Sample(Q0, 1.0), 1.0)
        assert out.flags & Flag.ESTOP and out.flags & Flag.DISABLED
        np.testing.assert_array_equal(out.target, held)
    rt.set_enabled(True)
    out = rt.tick(Sample(Q0, 1.05), 1.05)
    assert not out.flags
    np.testing.assert_allclose(out.target, jo.clip_to_limits(held + 0.5 / 24))   # resumes from the held target


def test_disable_holds_and_enable_reinitialises_the_history(policies):
    seen = []
    rt = running(RecordingPolicy(policies("base", 0.5), seen))
    held = run(rt, 4)[-1].target
    rt.set_enabled(False)
    out = rt.tick(Sample(Q0, 1.0), 1.0)
    assert out.flags == Flag.DISABLED
    np.testing.assert_array_equal(out.target, held)
    q_now = Q0 + 0.05
    rt.set_enabled(True)
    rt.tick(Sample(q_now, 1.05), 1.05)
    hist = seen[-1][:320].reshape(10, 2, 16)
    np.testing.assert_allclose(hist[:, 0], np.broadcast_to(q_now, (10, 16)), atol=1e-6)
    np.testing.assert_allclose(hist[:, 1], np.broadcast_to(held, (10, 16)), atol=1e-6)


@pytest.mark.parametrize("mode, flags", [(Mode.HOLD, Flag(0)), (Mode.OFF, Flag.DISABLED)])
def test_hold_and_off_hold_the_last_target(policies, mode, flags):
    rt = running(policies("base", 0.5))
    held = run(rt, 2)[-1].target
    rt.set_command(mode)
    outs = run(rt, 3, t0=1.0)
    assert all(o.flags == flags for o in outs)
    for o in outs:
        np.testing.assert_array_equal(o.target, held)


def test_rejects_bad_commands_and_mismatched_artifacts(policies):
    rt = running(policies("base", 0.5))
    for axis in ([0.0, 0.0, 0.0], [np.nan, 0.0, 1.0], [1.0, 0.0]):
        with pytest.raises(ValueError):
            rt.set_command(Mode.ROTATE, axis)
    with pytest.raises(ArtifactError):
        PolicyRuntime(policies("residual", 0.0), None, SafetyConfig())
    with pytest.raises(ArtifactError):
        PolicyRuntime(policies("base", 0.0), policies("base", 0.0), SafetyConfig())


def test_tick_clock_counts_skipped_ticks():
    clock = TickClock(0.05)
    starts = [0.0, 0.051, 0.1, 0.26, 0.3, 0.35]   # the tick at 0.26 is 0.11 s (2 periods) late
    periods = [clock.start(t) for t in starts]
    assert clock.missed == 2
    assert math.isnan(periods[0]) and periods[3] == pytest.approx(0.16)
    clock.start(0.40 + 0.049)                       # late, but less than one period
    assert clock.missed == 2


def test_a_hand_motor_alarm_holds_and_the_policy_restarts_from_the_hands_targets(policies):
    rt = running(policies("base", 1.0), max_step=1.0)
    run(rt, 3)
    rt.set_hardware_fault(True)
    held = rt.safe_target.copy()
    outs = run(rt, 3, t0=1.0)
    assert all(o.flags & Flag.HARDWARE_FAULT for o in outs)
    assert all(np.array_equal(o.target, held) for o in outs)
    # The operator rebooted the motors: they hold where they are, which the driver publishes as
    # its targets; the policy starts from there, not from its own last target.
    where_they_are = jo.clip_to_limits(Q0 - 0.05)
    rt.set_hand_target(Q0 + 0.05, 1.9)                      # a sample from before the reboot: not used
    rt.set_hardware_fault(False)
    rt.set_hand_target(where_they_are, 2.0)
    out = rt.tick(Sample(Q0, 2.0), 2.0)
    assert not out.flags & Flag.HARDWARE_FAULT and rt.started_from == StartSource.HAND_TARGETS
    np.testing.assert_allclose(out.target, jo.clip_to_limits(where_they_are + contract.ACTION_SCALE), atol=1e-9)


def test_a_gated_residual_is_scaled_by_the_models_confidence(policies):
    """Two NDMs that disagree by 12 mrad on joint 0 only (spread 6 mrad = 1.5 x the reference):
    joint 0 gets half the residual, the others all of it; the mean scale is reported."""
    import copy

    from dexndm_learning.ndm.models import build_model
    from dexndm_learning.residual.gate import NdmEnsemble, ResidualGate

    a = build_model("joint", window=4, width=8, depth=1)
    b = copy.deepcopy(a)
    b.delta_mean[0] += 0.012
    residual = policies("residual", 100.0)                            # saturates at the cap
    residual.gate = ResidualGate(NdmEnsemble([a, b]), np.full(jo.NUM_JOINTS, 0.004), 0.95)
    cap = contract.RESIDUAL_CAP
    for out in run(running(policies("base", 0.0), residual), 3):
        want = Q0 + cap
        want[0] = Q0[0] + 0.5 * cap
        np.testing.assert_allclose(out.target, jo.clip_to_limits(want), atol=1e-5)
        assert out.residual_scale == pytest.approx((15 + 0.5) / 16, abs=1e-5)
    assert run(running(policies("base", 0.0), policies("residual", 100.0)), 1)[0].residual_scale == 1.0


def test_a_residual_at_half_strength_commands_half_the_offset(policies, tmp_path):
    from dexndm_learning.residual.select import with_strength

    base, cap = policies("base", 0.0), contract.RESIDUAL_CAP
    full = constant_policy(tmp_path / "full.pt", "residual", 0.5)
    half = load_policy(with_strength(full, 0.5, tmp_path / "half.pt"))
    offset = cap * math.tanh(0.5)
    np.testing.assert_allclose(run(running(base, load_policy(full)), 1)[0].target, jo.clip_to_limits(Q0 + offset),
                               atol=1e-6)
    np.testing.assert_allclose(run(running(base, half), 1)[0].target, jo.clip_to_limits(Q0 + 0.5 * offset), atol=1e-6)


def test_test_policies_are_made_for_the_configured_hand(tmp_path, monkeypatch):
    from dexndm_learning.sim import hand_model

    configured = hand_model.HandConfig.load
    assert load_policy(random_policy(tmp_path / "a.pt", "base")).spec.hand_version == configured().version
    monkeypatch.setattr(hand_model.HandConfig, "load", classmethod(lambda cls, *a, **k: cls(version="v2")))
    assert load_policy(random_policy(tmp_path / "b.pt", "base")).spec.hand_version == "v2"
    assert load_policy(constant_policy(tmp_path / "c.pt", "residual", 0.0)).spec.hand_version == "v2"
