"""Arm target limits and wrist composition, without ROS."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dexndm_control.runtime.arm_limits import ArmLimits, Pose, limit_step, wrist_orientation

LIMITS = ArmLimits(np.array([0.2, -0.4, 0.1]), np.array([0.8, 0.4, 0.7]), 0.5, 1.0, 50.0)


def test_pose_validation():
    pose = Pose.from_arrays([0.5, 0.0, 0.3], [2.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(pose.quat_wxyz(), [1, 0, 0, 0])
    for position, quat in (([np.nan, 0, 0], [1, 0, 0, 0]), ([0, 0, 0], [1, np.inf, 0, 0]),
                           ([0, 0, 0], [0, 0, 0, 0])):
        with pytest.raises(ValueError):
            Pose.from_arrays(position, quat)


def test_clamp_to_workspace_box():
    np.testing.assert_allclose(LIMITS.clamp(np.array([1.5, 0.0, -0.3])), [0.8, 0.0, 0.1])
    np.testing.assert_allclose(LIMITS.clamp(np.array([0.5, 0.1, 0.3])), [0.5, 0.1, 0.3])


def test_next_command_limits_each_step():
    ref = Pose(np.array([0.5, 0.0, 0.4]), Rotation.identity())
    target = Pose(np.array([0.5, 0.0, 2.0]), Rotation.from_euler("z", 90, degrees=True))
    out = LIMITS.next_command(ref, target)
    np.testing.assert_allclose(out.position, [0.5, 0.0, 0.41])        # 0.5 m/s / 50 Hz
    assert (out.rotation * ref.rotation.inv()).magnitude() == pytest.approx(0.02)   # 1 rad/s / 50 Hz
    np.testing.assert_allclose(out.rotation.as_rotvec(), [0, 0, 0.02], atol=1e-12)
    for _ in range(200):   # converges to the clamped target
        out = LIMITS.next_command(out, target)
    np.testing.assert_allclose(out.position, [0.5, 0.0, 0.7])
    assert (out.rotation * target.rotation.inv()).magnitude() < 1e-9


def test_small_step_reaches_goal_exactly():
    ref = Pose(np.zeros(3), Rotation.identity())
    goal = Pose(np.array([0.001, 0.0, 0.0]), Rotation.from_euler("x", 0.001))
    out = limit_step(ref, goal, 0.01, 0.02)
    np.testing.assert_allclose(out.position, goal.position)
    assert (out.rotation * goal.rotation.inv()).magnitude() < 1e-12


def test_wrist_orientation_is_ee_then_mount():
    ee = Rotation.from_euler("x", 180, degrees=True)      # flange pointing down
    mount = Rotation.from_euler("z", 90, degrees=True)    # hand turned on the flange
    np.testing.assert_allclose(wrist_orientation(ee, mount).as_matrix(),
                               ee.as_matrix() @ mount.as_matrix(), atol=1e-12)
    # H's x axis (toward the fingertips) is the flange's y axis, seen from the world.
    np.testing.assert_allclose(wrist_orientation(ee, mount).apply([1, 0, 0]), ee.apply([0, 1, 0]), atol=1e-12)


def test_invalid_limits_rejected():
    with pytest.raises(ValueError):
        ArmLimits(np.array([0.8, 0, 0]), np.array([0.2, 1, 1]), 0.5, 1.0, 50.0)
    with pytest.raises(ValueError):
        ArmLimits(np.zeros(3), np.ones(3), 0.0, 1.0, 50.0)
