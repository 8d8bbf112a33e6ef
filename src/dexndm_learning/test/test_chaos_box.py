"""Chaos Box scenes: balls settle in the box around the hand, loads show in the joint tracking."""
import time

import numpy as np
import pytest

from dexndm_learning import joint_order
from dexndm_learning.sim.chaos_box import (STRAPPED_TIPS, ChaosBoxSim, chaos_box_spec, default_ball_count,
                                           hand_bounds)
from dexndm_learning.sim.hand_model import HandConfig, hand_spec
from dexndm_learning.sim.reality import load_profile

CFG = HandConfig()


def _sequence(steps=60, amplitude=0.3, seed=0):
    """A smooth 20 Hz target sequence around the canonical grasp (stand-in for a policy rollout)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None] * CFG.control_dt
    q = joint_order.CANONICAL_GRASP + amplitude * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 2 * np.pi, 16))
    return joint_order.clip_to_limits(q, margin=0.05)


def _tracking_error(sim, targets):
    sim.hold(targets[0], 5)
    replay = sim.replay(targets)
    assert replay.q.shape == (len(targets) + 1, 16) and replay.targets.shape == (len(targets), 16)
    return float(np.mean(np.abs(replay.q[1:] - targets)))


@pytest.fixture(scope="module")
def box():
    return ChaosBoxSim(chaos_box_spec(CFG, "palm_down", seed=0), CFG)


def test_balls_settle_in_the_box_around_the_hand(box):
    positions = box.ball_positions()
    assert len(positions) >= 100
    assert np.all(np.isfinite(box.data.qpos)) and np.all(np.isfinite(box.data.qvel))
    speeds = np.linalg.norm(box.data.cvel[box.ball_ids, 3:], axis=1)
    assert speeds.mean() < 0.03
    model = box.model
    floor, wall_px, wall_nx = (model.geom(n).id for n in ("box_floor", "box_wall_px", "box_wall_nx"))
    wall_py, wall_ny = model.geom("box_wall_py").id, model.geom("box_wall_ny").id
    inside_x = (positions[:, 0] > model.geom_pos[wall_nx][0]) & (positions[:, 0] < model.geom_pos[wall_px][0])
    inside_y = (positions[:, 1] > model.geom_pos[wall_ny][1]) & (positions[:, 1] < model.geom_pos[wall_py][1])
    above_floor = positions[:, 2] > model.geom_pos[floor][2]
    assert np.all(inside_x & inside_y & above_floor)
    lo, hi = hand_bounds(CFG, "palm_down", joint_order.CANONICAL_GRASP)
    beside = (positions[:, 2] > lo[2]) & (positions[:, 2] < hi[2])
    assert beside.sum() >= 30                       # buried: many balls at the hand's height
    assert (positions[:, 2] > hi[2]).sum() >= 10    # and some on top of it


def test_replay_against_balls_tracks_worse_than_the_free_hand(box):
    targets = _sequence()
    start = time.perf_counter()
    loaded = _tracking_error(box, targets)
    steps_per_s = len(targets) * CFG.substeps / (time.perf_counter() - start)
    free = _tracking_error(ChaosBoxSim(hand_spec(CFG, "palm_down"), CFG, settle_steps=0), targets)
    print(f"Chaos Box palm down, {len(box.ball_ids)} balls: {steps_per_s:.0f} physics steps/s; "
          f"tracking error {loaded:.4f} rad vs free {free:.4f} rad")
    assert loaded > 1.5 * free
    assert np.all(np.isfinite(box.ball_positions()))


def test_scene_is_deterministic_and_variant_checked():
    a = chaos_box_spec(CFG, "thumb_up", n_balls=100, seed=3).compile()
    b = chaos_box_spec(CFG, "thumb_up", n_balls=100, seed=3).compile()
    c = chaos_box_spec(CFG, "thumb_up", n_balls=100, seed=4).compile()
    np.testing.assert_array_equal(a.geom_size, b.geom_size)
    np.testing.assert_array_equal(a.body_pos, b.body_pos)
    assert not np.array_equal(a.geom_size, c.geom_size)
    assert default_ball_count(CFG, "thumb_up") >= 100
    with pytest.raises(ValueError) as err:
        chaos_box_spec(CFG, "palm_down", variant="pool")
    assert "box" in str(err.value) and "strapped" in str(err.value)


@pytest.mark.parametrize("wrist", ["palm_up", "palm_down"])
def test_strapped_ball_stays_at_the_fingertips(wrist):
    sim = ChaosBoxSim(chaos_box_spec(CFG, wrist, variant="strapped"), CFG, load_profile("paper_sysid"))
    ball = sim.model.body("strap_ball").id
    targets = _sequence(steps=80)
    sim.hold(targets[0], 5)
    worst = 0.0
    for target in targets:
        sim.replay(target[None])
        tips = np.array([sim.data.site(f"{b}_tip").xpos for b in STRAPPED_TIPS])
        worst = max(worst, np.linalg.norm(tips - sim.data.xpos[ball], axis=1).max())
    assert np.all(np.isfinite(sim.data.qpos))
    assert worst < 0.08    # ball radius 3.2 cm: its surface stays within ~5 cm of every strapped tip
    free = _tracking_error(ChaosBoxSim(hand_spec(CFG, wrist), CFG), targets)
    strapped = _tracking_error(ChaosBoxSim(chaos_box_spec(CFG, wrist, variant="strapped"), CFG), targets)
    assert strapped > 1.5 * free


@pytest.mark.parametrize("variant", ["box", "strapped"])
def test_both_scenes_build_on_the_v2_hand(variant):
    """v2's fingertips include ellipsoids: ball placement keeps its distance to them too."""
    cfg = HandConfig(version="v2")
    sim = ChaosBoxSim(chaos_box_spec(cfg, "palm_down", variant=variant, seed=0), cfg)
    sim.replay(_sequence(steps=10))
    assert np.all(np.isfinite(sim.data.qpos))
    if variant == "box":
        contacts = {(sim.model.geom_bodyid[c.geom1], sim.model.geom_bodyid[c.geom2]) for c in sim.data.contact}
        assert contacts   # the balls rest on the hand and each other
