"""sensor_msgs/JointState <-> arrays in MJ order (sim angles), for every node that speaks it."""
from __future__ import annotations

import numpy as np
from sensor_msgs.msg import JointState

from dexndm_learning import joint_order


def make_joint_state(stamp, position, velocity=None, effort=None, frame_id: str = "") -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.name = list(joint_order.JOINT_NAMES)
    msg.position = [float(x) for x in position]
    if velocity is not None:
        msg.velocity = [float(x) for x in velocity]
    if effort is not None:
        msg.effort = [float(x) for x in effort]
    return msg


def command_targets(msg: JointState) -> np.ndarray:
    """Position targets of a command message in MJ order, validated.

    ``name`` may be empty (positions then in MJ order) or list our 16 names in any order.
    Raises ``joint_order.JointCommandError`` for anything that must not reach the hand.
    """
    pos = np.asarray(msg.position, dtype=float)
    if len(msg.name):
        if len(msg.name) != len(pos):
            raise joint_order.JointCommandError(
                f"{len(msg.name)} names but {len(pos)} positions in the command")
        pos = joint_order.reorder_by_names(pos, msg.name)
    return joint_order.validate_targets(pos)
