"""A URDF of the LEAP Hand generated from the MuJoCo hand (``hand_model.hand_spec``), so the robot
description ROS tools use (robot_state_publisher, RViz, Foxglove) cannot drift from the model every
policy is trained on.

    python -m dexndm_learning.sim.urdf --out models/urdf/leap_hand_v1.urdf [--hand-config hand] [--version v2]

The compiled model is walked from the ``mount`` body (hand frame H: x from the wrist toward the
fingertips, z out of the palmar side) down: every body becomes a link with MuJoCo's inertial
(mass, centre of mass, principal inertia and axes), every hinge a revolute joint with our joint
name, axis and limits (effort: the actuator's torque limit), every fingertip site a fixed child
link ``<body>_tip``. Collision shapes become visuals and collisions where URDF has the primitive:
boxes as boxes, capsules as cylinders of the same length and radius (URDF has no capsule),
ellipsoids (the v2 fingertip pads) as their bounding boxes. A ``<mujoco>`` element keeps MuJoCo's
URDF importer from fusing the fixed tip links away; other parsers ignore it.
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from xml.etree import ElementTree as ET

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from dexndm_learning import joint_order
from dexndm_learning.sim.hand_model import HAND_VERSIONS, HandConfig, hand_spec

VELOCITY_LIMIT = 8.0
"""rad/s written into the joints' <limit> (XC330 no-load speed about 9.6 rad/s; URDF needs a value)."""


def _rpy(quat_wxyz) -> str:
    """URDF's fixed-axis roll, pitch, yaw. At pitch +-90 deg the split between roll and yaw is
    arbitrary (scipy warns and picks one); the rotation they compose is still exact."""
    w, x, y, z = quat_wxyz
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        angles = Rotation.from_quat([x, y, z, w]).as_euler("xyz")
    return " ".join(f"{v:.9g}" for v in angles)


def _xyz(v) -> str:
    return " ".join(f"{float(c):.9g}" for c in v)


def _origin(parent: ET.Element, pos, quat_wxyz) -> None:
    ET.SubElement(parent, "origin", xyz=_xyz(pos), rpy=_rpy(quat_wxyz))


def _geometry(parent: ET.Element, model: mujoco.MjModel, g: int) -> bool:
    kind, size = model.geom_type[g], model.geom_size[g]
    geom = ET.Element("geometry")
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        ET.SubElement(geom, "box", size=_xyz(2 * size))
    elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        ET.SubElement(geom, "cylinder", radius=f"{size[0]:.9g}", length=f"{2 * size[1]:.9g}")
    elif kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
        ET.SubElement(geom, "box", size=_xyz(2 * size))
    else:
        return False
    parent.append(geom)
    return True


def hand_urdf(cfg: HandConfig | None = None) -> str:
    """The URDF text of the hand ``cfg`` describes (default: ``config/hand.yaml``)."""
    cfg = cfg or HandConfig.load()
    model = hand_spec(cfg, wrist="palm_up").compile()
    robot = ET.Element("robot", name=f"leap_hand_{cfg.version}")
    mj = ET.SubElement(robot, "mujoco")
    ET.SubElement(mj, "compiler", fusestatic="false", discardvisual="false", balanceinertia="true")
    mount = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "mount")
    bodies = [b for b in range(model.nbody) if b == mount or _descends(model, b, mount)]
    for b in bodies:
        name = model.body(b).name
        link = ET.SubElement(robot, "link", name=name)
        if model.body_mass[b] > 0:
            inertial = ET.SubElement(link, "inertial")
            _origin(inertial, model.body_ipos[b], model.body_iquat[b])
            ET.SubElement(inertial, "mass", value=f"{model.body_mass[b]:.9g}")
            ixx, iyy, izz = model.body_inertia[b]
            ET.SubElement(inertial, "inertia", ixx=f"{ixx:.9g}", iyy=f"{iyy:.9g}", izz=f"{izz:.9g}",
                          ixy="0", ixz="0", iyz="0")
        for g in np.flatnonzero(model.geom_bodyid == b):
            for tag in ("visual", "collision"):
                el = ET.Element(tag, name=f"{model.geom(g).name}_{tag}")
                _origin(el, model.geom_pos[g], model.geom_quat[g])
                if _geometry(el, model, g):
                    if tag == "visual":
                        ET.SubElement(ET.SubElement(el, "material", name=f"{model.geom(g).name}_color"), "color",
                                      rgba=_xyz(model.geom_rgba[g]))
                    link.append(el)
        if b == mount:
            continue
        parent = model.body(model.body_parentid[b]).name
        jnts = [j for j in range(model.njnt) if model.jnt_bodyid[j] == b]
        if jnts:
            j = jnts[0]
            joint = ET.SubElement(robot, "joint", name=model.joint(j).name, type="revolute")
            ET.SubElement(joint, "axis", xyz=_xyz(model.jnt_axis[j]))
            i = joint_order.JOINT_NAMES.index(model.joint(j).name)
            ET.SubElement(joint, "limit", lower=f"{joint_order.LOWER[i]:.9g}", upper=f"{joint_order.UPPER[i]:.9g}",
                          effort=f"{cfg.torque_limit:.9g}", velocity=f"{VELOCITY_LIMIT:.9g}")
        else:
            joint = ET.SubElement(robot, "joint", name=f"{parent}_to_{name}", type="fixed")
        ET.SubElement(joint, "parent", link=parent)
        ET.SubElement(joint, "child", link=name)
        _origin(joint, model.body_pos[b], model.body_quat[b])
    for s in range(model.nsite):
        body = model.body(model.site_bodyid[s]).name
        if model.site_bodyid[s] not in bodies:
            continue
        name = model.site(s).name
        ET.SubElement(robot, "link", name=name)
        joint = ET.SubElement(robot, "joint", name=f"{body}_to_{name}", type="fixed")
        ET.SubElement(joint, "parent", link=body)
        ET.SubElement(joint, "child", link=name)
        _origin(joint, model.site_pos[s], model.site_quat[s])
    ET.indent(robot)
    header = ("<?xml version=\"1.0\"?>\n<!-- Generated by dexndm_learning.sim.urdf from the MuJoCo hand "
              f"(hand version {cfg.version}); do not edit: regenerate. -->\n")
    return header + ET.tostring(robot, encoding="unicode") + "\n"


def _descends(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
    while body > 0:
        body = model.body_parentid[body]
        if body == ancestor:
            return True
    return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write the LEAP Hand's URDF, generated from the MuJoCo hand.")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--hand-config", default="hand", help="config name or YAML path")
    ap.add_argument("--version", choices=HAND_VERSIONS, help="hand version (default: the config's)")
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(hand_urdf(HandConfig.load(args.hand_config, {"version": args.version} if args.version else None)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
