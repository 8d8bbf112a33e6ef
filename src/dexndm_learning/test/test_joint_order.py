import numpy as np
import pytest

from dexndm_learning import joint_order as jo


def test_permutations_match_the_published_maps():
    # LEAP_Hand_Sim's real_to_sim / sim_to_real arrays (shared facts), and Menagerie -> motor.
    assert list(jo.permutation("motor", "isaac")) == [1, 0, 2, 3, 12, 13, 14, 15, 5, 4, 6, 7, 9, 8, 10, 11]
    assert list(jo.permutation("isaac", "motor")) == [1, 0, 2, 3, 9, 8, 10, 11, 13, 12, 14, 15, 4, 5, 6, 7]
    assert list(jo.permutation("mj", "motor")) == [1, 0, 2, 3, 5, 4, 6, 7, 9, 8, 10, 11, 12, 13, 14, 15]


@pytest.mark.parametrize("src", list(jo.Order))
@pytest.mark.parametrize("dst", list(jo.Order))
def test_round_trips(src, dst):
    x = np.random.default_rng(0).normal(size=(5, 16))
    np.testing.assert_array_equal(jo.convert(jo.convert(x, src, dst), dst, src), x)


def test_names_follow_each_order():
    assert jo.names("motor")[:2] == ("if_rot", "if_mcp")          # motor 0 = index abduction
    assert jo.names("isaac")[4:8] == ("th_cmc", "th_axl", "th_mcp", "th_ipl")
    x = np.arange(16.0)
    for order in jo.Order:
        converted = jo.convert(x, "mj", order)
        for name, value in zip(jo.names(order), converted):
            assert jo.JOINT_NAMES[int(value)] == name


def test_limit_tables_agree_across_orders():
    for order in jo.Order:
        lo, hi = jo.limits(order)
        for name, l_, h_ in zip(jo.names(order), lo, hi):
            i = jo.JOINT_NAMES.index(name)
            assert (l_, h_) == (jo.LOWER[i], jo.UPPER[i])
    # Thumb uses the hardware limits of motors 12-15 (trusted over Menagerie's shifted ones).
    lo_m, hi_m = jo.limits("motor")
    np.testing.assert_allclose(lo_m[12:], [-0.349, -0.47, -1.20, -1.34])
    np.testing.assert_allclose(hi_m[12:], [2.094, 2.443, 1.90, 1.88])
    assert np.all(jo.LOWER < jo.UPPER)


def test_motor_angles_are_sim_plus_pi_in_motor_order():
    q = np.linspace(-0.3, 1.0, 16)
    m = jo.sim_to_motor_angles(q)
    assert m[0] == pytest.approx(q[1] + np.pi)     # motor 0 is if_rot (MJ 1)
    np.testing.assert_allclose(jo.motor_to_sim_angles(m), q)
    np.testing.assert_allclose(jo.sim_to_motor_angles(jo.OPEN_POSE), np.pi)


def test_canonical_grasp_in_mj_order_and_within_limits():
    assert jo.CANONICAL_GRASP[12:].tolist() == [1.163, 1.104, 0.953, -0.138]   # thumb
    assert jo.within_limits(jo.CANONICAL_GRASP)


def test_validate_targets_rejects_unsafe_commands():
    jo.validate_targets(jo.OPEN_POSE)
    with pytest.raises(jo.JointCommandError, match="16"):
        jo.validate_targets(np.zeros(15))
    bad = jo.OPEN_POSE.copy()
    bad[3] = np.nan
    with pytest.raises(jo.JointCommandError, match="if_dip"):
        jo.validate_targets(bad)
    bad = jo.OPEN_POSE.copy()
    bad[13] = 3.0
    with pytest.raises(jo.JointCommandError, match="th_axl"):
        jo.validate_targets(bad)


def test_reorder_by_names():
    names = list(reversed(jo.JOINT_NAMES))
    np.testing.assert_array_equal(jo.reorder_by_names(np.arange(16)[::-1], names), np.arange(16))
    with pytest.raises(jo.JointCommandError, match="missing"):
        jo.reorder_by_names(np.zeros(16), names[:-1] + ["bogus"])


def test_clipping_tensors_first_under_inference_mode_keeps_later_clipping_differentiable():
    import torch

    with torch.inference_mode():                         # an env step makes the cached limits
        jo.clip_to_limits(torch.zeros(2, 16, dtype=torch.float64), margin=0.0123)
    q = torch.full((2, 16), 10.0, dtype=torch.float64, requires_grad=True)
    out = jo.clip_to_limits(q, margin=0.0123)          # residual training clips with gradients
    out.sum().backward()
    assert torch.allclose(out[0], torch.as_tensor(jo.UPPER - 0.0123)) and q.grad is not None
