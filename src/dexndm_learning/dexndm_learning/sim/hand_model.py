"""The LEAP Hand as a MuJoCo model, built in code with ``mujoco.MjSpec``.

Kinematics (body frames, hinge axes, masses) follow the public Menagerie description of the
right LEAP Hand; see ``shared/facts/leap-hand.md``. Collision shapes are our own: boxes for the
motor blocks and the palm, capsules for the phalanges, chosen for speed and stable contacts.
Shapes are written in the palm frame at the flat open pose (easy to read and check against the
fact sheet) and moved into each body's frame when the model is built.

Two hand versions (``HandConfig.version``), recorded by every artifact made on one:

- ``v1``: the distal links end at the fingertip pads' centroids (16-17 mm short of the real
  fingertips) and inertias come from our collision primitives. Every model committed before
  the v2 retraining was made on it.
- ``v2``: distal links as on the real hand: the bracket boxes of Menagerie's distal links and
  fingertip pads fitted to Menagerie's fingertip collision meshes (a box and an ellipsoid per tip,
  ``scripts/fit_fingertips.py``: every sampled mesh point within 2 mm of our surface, the tip end
  within 1.1 mm); fingertip sites at the pads' contact centres; every body's mass, centre of mass
  and inertia copied from Menagerie (``_INERTIALS_V2``).

Joints are position-controlled by ``general`` actuators implementing
``tau = clip(kp (target - q) - kd qdot, -tau_max, tau_max)`` with ``kp``, ``kd`` and ``tau_max``
per joint, so a reality profile can change them on a compiled model.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from dexndm_learning import joint_order
from dexndm_learning.config import load_yaml, resolve_config
from dexndm_learning.sim.wrist import from_wxyz, to_wxyz, wrist_quat


@dataclass
class HandConfig:
    """Physics and control parameters of the simulated hand (``config/hand.yaml``)."""

    timestep: float = 1.0 / 120.0      # physics step (s)
    substeps: int = 6                  # physics steps per 20 Hz control step
    kp: float = 3.0                    # N m / rad (the paper identifies 1.5-4.8 per joint)
    kd: float = 0.1                    # N m s / rad
    torque_limit: float = 0.7          # N m, actuator force range
    joint_damping: float = 0.03
    armature: float = 0.001
    frictionloss: float = 0.01
    hand_friction: float = 1.0         # sliding friction of hand geoms
    integrator: str = "implicitfast"
    cone: str = "pyramidal"
    impratio: float = 10.0
    iterations: int = 20
    ls_iterations: int = 10
    noslip_iterations: int = 3         # see config/hand.yaml: stops soft-contact creep
    mount_pos: tuple[float, float, float] = (0.0, 0.0, 0.5)
    self_collision: bool = True
    palm: str = "slab"                 # palm collision shape: a key of PALM_SHAPES
    version: str = "v2"                # hand geometry and inertia: a key of HAND_VERSIONS

    @property
    def control_dt(self) -> float:
        return self.timestep * self.substeps

    @classmethod
    def load(cls, name: str = "hand", overrides: dict | None = None) -> "HandConfig":
        return load_yaml(cls, resolve_config(name), overrides)


# --- kinematic tree (Menagerie right hand) ----------------------------------------------------
# (body, parent, pos, quat wxyz, joint name)
_FINGER_BASES = {"if": (-0.007, 0.023, -0.0187), "mf": (-0.0071, -0.0224, -0.0187),
                 "rf": (-0.00709, -0.0678, -0.0187)}
_TREE: list[tuple[str, str, tuple, tuple, str]] = []
for _f, _pos in _FINGER_BASES.items():
    _TREE += [
        (f"{_f}_bs", "palm", _pos, (.5, .5, .5, -.5), f"{_f}_mcp"),
        (f"{_f}_px", f"{_f}_bs", (-0.0122, 0.0381, 0.0145), (.5, -.5, -.5, .5), f"{_f}_rot"),
        (f"{_f}_md", f"{_f}_px", (0.015, 0.0143, -0.013), (.5, .5, -.5, .5), f"{_f}_pip"),
        (f"{_f}_ds", f"{_f}_md", (0, -0.0361, 0.0002), (1, 0, 0, 0), f"{_f}_dip"),
    ]
_TREE += [
    ("th_mp", "palm", (-0.0693, -0.0012, -0.0216), (.7071068, 0, .7071068, 0), "th_cmc"),
    ("th_bs", "th_mp", (0, 0.0143, -0.013), (.5, .5, -.5, .5), "th_axl"),
    ("th_px", "th_bs", (0, 0.0145, -0.017), (.7071068, -.7071068, 0, 0), "th_mcp"),
    ("th_ds", "th_px", (0, 0.0466, 0.0002), (0, 0, 0, 1), "th_ipl"),
]
assert tuple(j for *_, j in _TREE) == joint_order.JOINT_NAMES

_MASS = {"palm": 0.237, "bs": 0.044, "px": 0.032, "md": 0.037, "ds": 0.016,
         "th_mp": 0.032, "th_bs": 0.003, "th_px": 0.038, "th_ds": 0.049}

# --- collision shapes, palm frame at the flat pose ---------------------------------------------
# ("box", center, half sizes[, quat wxyz]) with box axes along the palm axes unless a quat turns
# them, or ("capsule", p0, p1, radius).
_FINGER_Y = {"if": 0.0085, "mf": -0.0369, "rf": -0.0823}   # finger centre lines (from the FK)
PALM_SHAPES: dict[str, list[tuple]] = {
    # One slab under the whole palmar side: the shape every committed model was trained with.
    "slab": [("box", (-0.047, -0.040, -0.0115), (0.047, 0.055, 0.023))],
    # The ten boxes of the right LEAP palm in MuJoCo MPC's leap_rh.xml (made from the LEAP URDF's
    # meshes; same palm frame). Unlike the slab, the palmar face is 5-16 mm lower next to the
    # finger row (x > -0.036) than at the heel, and the heel has no palmar face on the thumb side
    # (x < -0.056, y > -0.027), where the thumb's metacarpal sits.
    "published": [
        ("box", (-0.009, 0.008, -0.011), (0.011, 0.013, 0.017)),
        ("box", (-0.009, -0.037, -0.011), (0.011, 0.013, 0.017)),
        ("box", (-0.009, -0.082, -0.011), (0.011, 0.013, 0.017)),
        ("box", (-0.066, -0.078, -0.0115), (0.029, 0.01, 0.023), (0.989016, 0, 0, -0.147806)),
        ("box", (-0.03, -0.035, -0.003), (0.01, 0.06, 0.015)),
        ("box", (-0.032, -0.035, -0.024), (0.005, 0.06, 0.01), (0.923956, 0, 0.382499, 0)),
        ("box", (-0.048, -0.033, -0.0115), (0.012, 0.058, 0.023)),
        ("box", (-0.078, -0.053, -0.0115), (0.022, 0.026, 0.023)),
        ("box", (-0.098, -0.009, -0.006), (0.002, 0.018, 0.017)),
        ("box", (-0.078, -0.003, 0.01), (0.022, 0.028, 0.002)),
    ],
}
_SHAPES: dict[str, list[tuple]] = {
    "th_mp": [("box", (-0.080, -0.0014, -0.014), (0.011, 0.013, 0.017))],
    "th_bs": [("box", (-0.0823, 0.022, -0.018), (0.009, 0.008, 0.010))],
    "th_px": [("capsule", (-0.0823, 0.031, -0.021), (-0.0823, 0.060, -0.021), 0.011)],
    "th_ds": [("capsule", (-0.0823, 0.075, -0.021), (-0.0815, 0.1105, -0.021), 0.0115)],
}
for _f, _y in _FINGER_Y.items():
    _SHAPES[f"{_f}_bs"] = [("box", (0.035, _y, 0.008), (0.020, 0.010, 0.014))]      # MCP motor (dorsal)
    _SHAPES[f"{_f}_px"] = [("box", (0.0386, _y, -0.0175), (0.017, 0.0125, 0.011))]  # abduction motor
    _SHAPES[f"{_f}_md"] = [("capsule", (0.054, _y, -0.013), (0.080, _y, -0.013), 0.012)]
    _SHAPES[f"{_f}_ds"] = [("capsule", (0.090, _y, -0.014), (0.1045, _y, -0.014), 0.0115)]

FINGERTIP_BODIES = ("if_ds", "mf_ds", "rf_ds", "th_ds")
# Tip points (palm frame, flat pose): end of the distal capsule's axis plus its radius.
_TIPS = {"if_ds": (0.116, 0.0085, -0.014), "mf_ds": (0.116, -0.0369, -0.014),
         "rf_ds": (0.116, -0.0823, -0.014), "th_ds": (-0.081, 0.122, -0.021)}
# Bodies whose shapes overlap the palm block by construction (as in Menagerie).
_EXCLUDE_WITH_PALM = ("th_mp", "th_bs", "th_px", "if_bs", "mf_bs", "rf_bs", "if_px", "mf_px", "rf_px")
# Links of one finger never reach each other within the joint limits; their simplified shapes
# overlap near the joints, so contacts inside a finger are excluded.
_FINGER_LINKS = {f: [f"{f}_{p}" for p in ("bs", "px", "md", "ds")] for f in ("if", "mf", "rf")}
_FINGER_LINKS["th"] = ["th_mp", "th_bs", "th_px", "th_ds"]

# --- v2: distal links and inertias from MuJoCo Menagerie's LEAP Hand (MIT; google-deepmind/
# mujoco_menagerie leap_hand/right_hand.xml, derived from the dexsuite LEAP URDF) ------------------
# Shapes in the distal body's own frame (the finger points along -y, the pad faces -x).
# ("box", centre, half sizes) or ("ellipsoid", centre, radii).
_FINGER_DS_V2 = [
    ("box", (0.0, -0.017, 0.015), (0.01, 0.003, 0.015)),       # Menagerie's bracket boxes
    ("box", (0.0, -0.006, 0.03), (0.007, 0.011, 0.002)),
    ("box", (0.0, -0.006, -0.001), (0.007, 0.011, 0.002)),
    ("box", (-0.00132, -0.03214, 0.01396), (0.00909, 0.01231, 0.01154)),  # pad, fitted to tip.obj
    ("ellipsoid", (-0.0030, -0.0405, 0.0146), (0.0098, 0.0097, 0.0134)),  # rounded end
]
_DISTAL_V2: dict[str, list[tuple]] = {f"{f}_ds": _FINGER_DS_V2 for f in ("if", "mf", "rf")}
_DISTAL_V2["th_ds"] = [
    ("box", (0.0, -0.0085, -0.015), (0.01, 0.018, 0.012)),
    ("box", (0.0, -0.029, -0.014), (0.01, 0.002, 0.015)),
    ("box", (0.015, -0.0175, -0.0115), (0.004, 0.012, 0.009)),
    ("box", (-0.00149, -0.04440, -0.01416), (0.00960, 0.01209, 0.01147)),  # pad, fitted to thumb_tip.obj
    ("ellipsoid", (-0.0030, -0.0532, -0.0144), (0.0099, 0.0096, 0.0130)),
]
# Pad contact centres (distal body frame): area-weighted centroid of the reference tip mesh's
# palmar face (normals within 26 deg of -x).
_PAD_CENTRES_V2 = {"if_ds": (-0.0110, -0.0343, 0.0147), "mf_ds": (-0.0110, -0.0343, 0.0147),
                   "rf_ds": (-0.0110, -0.0343, 0.0147), "th_ds": (-0.0110, -0.0462, -0.0135)}
# (mass kg, centre of mass (body frame), principal axes quat wxyz, principal inertias kg m^2),
# copied from Menagerie's <inertial> elements. Menagerie's th_mp repeats the *_px numbers.
_PX_INERTIAL = (0.032, (0.0075, -0.0002, -0.011), (0, 0.707107, 0, 0.707107), (4.8853e-06, 4.3733e-06, 3.0933e-06))
_INERTIALS_V2: dict[str, tuple] = {
    "palm": (0.237, (-0.049542, -0.042914, -0.010227), (0.565586, 0.427629, -0.574956, 0.408254),
             (0.000407345, 0.000304759, 0.000180736)),
    "th_mp": _PX_INERTIAL,
    "th_bs": (0.003, (0, 0, -0.0070806), (0.707107, 0.707107, 0, 0), (6.1932e-07, 5.351e-07, 2.1516e-07)),
    "th_px": (0.038, (-0.0020593, 0.015912, -0.013733), (0.698518, 0.697382, -0.104933, 0.121324),
              (9.87104e-06, 9.32653e-06, 4.36203e-06)),
    "th_ds": (0.049, (0.00096191, -0.024203, -0.014419), (0.35287, 0.311272, -0.632839, 0.614904),
              (2.08591e-05, 2.0402e-05, 4.71335e-06)),
}
for _f in ("if", "mf", "rf"):
    _INERTIALS_V2[f"{_f}_bs"] = (0.044, (-0.022516, 0.033882, 0.016359), (0.388092, 0.677951, -0.247713, 0.573067),
                                 (1.74972e-05, 1.61504e-05, 7.21342e-06))
    _INERTIALS_V2[f"{_f}_px"] = _PX_INERTIAL
    _INERTIALS_V2[f"{_f}_md"] = (0.037, (0.0054215, -0.029148, 0.015), (0.687228, 0.687228, 0.166487, 0.166487),
                                 (8.28004e-06, 8.1598e-06, 5.39516e-06))
    _INERTIALS_V2[f"{_f}_ds"] = (0.016, (-0.0008794, -0.027019, 0.014594),
                                 (0.702905, 0.710643, -0.0212937, -0.0214203), (3.71863e-06, 3.02396e-06, 1.6518e-06))

HAND_VERSIONS = ("v1", "v2")
"""``v1``: short fingertips, primitive-derived inertias (the first specialists and generalist);
``v2``: the real hand's distal links and Menagerie's inertias (the default)."""


class HandVersionError(ValueError):
    """An artifact (grasp set, dataset, checkpoint, policy) made on another hand version."""


def check_hand_version(made_on: str | None, running: str, what: str) -> None:
    """Refuse ``what`` (a path or name), made on hand ``made_on`` (None: before versions were
    recorded, i.e. ``v1``), on a hand of version ``running``."""
    made_on = made_on or "v1"
    if made_on != running:
        raise HandVersionError(f"{what} was made on hand {made_on}, but this hand is {running}; "
                               f"use a hand of version {made_on} (HandConfig.version) or retrain on {running}")


GRASP_CENTRE_IN_HAND = (-0.0036, 0.0408, 0.1162)
"""Point (hand frame H, relative to the mount) equidistant (0.05 m) from the four fingertips at
the canonical grasp: where a grasped object's centre goes. Checked against the FK in the tests."""

PALM_QUAT_IN_MOUNT = (0.0, 1.0, 0.0, 0.0)
"""The palm frame sits in the hand (mount) frame H rotated 180 deg about x (palmar side = H +z)."""


def _flat_pose_frames() -> dict[str, tuple[np.ndarray, Rotation]]:
    """World pose of every body in the palm frame at q = 0."""
    frames = {"palm": (np.zeros(3), Rotation.identity())}
    for body, parent, pos, quat, _ in _TREE:
        p_pos, p_rot = frames[parent]
        w, x, y, z = quat
        frames[body] = (p_pos + p_rot.apply(pos), p_rot * Rotation.from_quat([x, y, z, w]))
    return frames


def _gain_bias(kp: np.ndarray, kd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gain = np.zeros((len(kp), 10))
    bias = np.zeros((len(kp), 10))
    gain[:, 0] = kp
    bias[:, 1] = -kp
    bias[:, 2] = -kd
    return gain, bias


def set_pd_gains(model: mujoco.MjModel, kp, kd, actuator_ids=None) -> None:
    """Set per-joint PD gains (MJ order) on a compiled model."""
    ids = np.arange(joint_order.NUM_JOINTS) if actuator_ids is None else np.asarray(actuator_ids)
    kp = np.broadcast_to(np.asarray(kp, dtype=float), ids.shape)
    kd = np.broadcast_to(np.asarray(kd, dtype=float), ids.shape)
    gain, bias = _gain_bias(kp, kd)
    model.actuator_gainprm[ids, :] = gain
    model.actuator_biasprm[ids, :] = bias


def add_hand(spec: mujoco.MjSpec, cfg: HandConfig, wrist="palm_up", mocap_mount: bool = False) -> mujoco.MjsBody:
    """Add the hand on a mount at ``cfg.mount_pos`` with orientation ``wrist`` to ``spec``.

    With ``mocap_mount`` the mount is a mocap body, so the wrist orientation can change at run
    time without recompiling (the batched environment samples it at every reset).
    """
    frames = _flat_pose_frames()
    mount = spec.worldbody.add_body(name="mount", pos=list(cfg.mount_pos), quat=list(wrist_quat(wrist)),
                                    mocap=mocap_mount)
    bodies = {"palm": mount.add_body(name="palm", quat=list(PALM_QUAT_IN_MOUNT))}
    lower, upper = joint_order.LOWER, joint_order.UPPER
    for i, (body, parent, pos, quat, joint) in enumerate(_TREE):
        b = bodies[parent].add_body(name=body, pos=list(pos), quat=list(quat))
        b.add_joint(name=joint, type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, -1],
                    range=[lower[i], upper[i]], limited=mujoco.mjtLimited.mjLIMITED_TRUE,
                    damping=cfg.joint_damping, armature=cfg.armature, frictionloss=cfg.frictionloss)
        bodies[body] = b
    if cfg.palm not in PALM_SHAPES:
        raise ValueError(f"HandConfig.palm: unknown palm shape '{cfg.palm}'; valid: {sorted(PALM_SHAPES)}")
    if cfg.version not in HAND_VERSIONS:
        raise ValueError(f"HandConfig.version: unknown hand version '{cfg.version}'; valid: {list(HAND_VERSIONS)}")
    v2 = cfg.version == "v2"
    shapes_of = {"palm": PALM_SHAPES[cfg.palm], **_SHAPES}
    if v2:
        for body in _DISTAL_V2:
            del shapes_of[body]
    for body, shapes in shapes_of.items():
        b_pos, b_rot = frames[body]
        inv = b_rot.inv()
        mass = (_MASS[body] if body in _MASS else _MASS[body.split("_")[-1]]) / len(shapes)
        for k, shape in enumerate(shapes):
            common = dict(name=f"{body}_col{k}", mass=mass, friction=[cfg.hand_friction, 0.005, 0.0001],
                          condim=3, rgba=[0.15, 0.15, 0.15, 1] if body == "palm" else [0.2, 0.2, 0.25, 1])
            if shape[0] == "box":
                _, center, half, *turn = shape
                local = inv.apply(np.subtract(center, b_pos))
                rot = inv * from_wxyz(turn[0]) if turn else inv
                bodies[body].add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, pos=list(local), quat=list(to_wxyz(rot)),
                                      size=list(half), **common)
            else:
                _, p0, p1, radius = shape
                a = inv.apply(np.subtract(p0, b_pos))
                c = inv.apply(np.subtract(p1, b_pos))
                bodies[body].add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=list(a) + list(c),
                                      size=[radius, 0, 0], **common)
    if v2:
        for body, shapes in _DISTAL_V2.items():
            for k, (kind, centre, size) in enumerate(shapes):
                pad = k >= 3                                   # bracket boxes, then the (white) pad
                bodies[body].add_geom(name=f"{body}_pad{k - 3}" if pad else f"{body}_col{k}", type=_LOCAL_GEOM[kind],
                                      pos=list(centre), size=list(size), friction=[cfg.hand_friction, 0.005, 0.0001],
                                      condim=3, rgba=[0.85, 0.85, 0.85, 1] if pad else [0.2, 0.2, 0.25, 1])
        for body, (mass, com, quat, inertia) in _INERTIALS_V2.items():
            b = bodies[body]
            b.explicitinertial = True
            b.mass, b.ipos, b.iquat, b.inertia = mass, list(com), list(quat), list(inertia)
        tips = _PAD_CENTRES_V2
    else:
        tips = {body: frames[body][1].inv().apply(np.subtract(tip, frames[body][0])) for body, tip in _TIPS.items()}
    for body, tip in tips.items():
        bodies[body].add_site(name=f"{body}_tip", pos=list(tip), size=[0.003, 0, 0])
    bodies["palm"].add_site(name="palm_center", pos=[-0.047, -0.037, -0.0345], size=[0.003, 0, 0])
    for body in _EXCLUDE_WITH_PALM:
        spec.add_exclude(bodyname1="palm", bodyname2=body)
    for links in _FINGER_LINKS.values():
        for i, a in enumerate(links):
            for b in links[i + 2:]:   # parent-child pairs are excluded by MuJoCo already
                spec.add_exclude(bodyname1=a, bodyname2=b)
    if not cfg.self_collision:
        names = ["palm"] + [b for b, *_ in _TREE]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                spec.add_exclude(bodyname1=a, bodyname2=b)
    kp = np.full(joint_order.NUM_JOINTS, cfg.kp)
    kd = np.full(joint_order.NUM_JOINTS, cfg.kd)
    for i, joint in enumerate(joint_order.JOINT_NAMES):
        act = spec.add_actuator(name=joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        gain, bias = _gain_bias(kp[i:i + 1], kd[i:i + 1])
        act.gainprm = list(gain[0])
        act.biasprm = list(bias[0])
        act.ctrlrange = [lower[i], upper[i]]
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-cfg.torque_limit, cfg.torque_limit]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    return mount


_LOCAL_GEOM = {"box": mujoco.mjtGeom.mjGEOM_BOX, "ellipsoid": mujoco.mjtGeom.mjGEOM_ELLIPSOID}


def configure_options(spec: mujoco.MjSpec, cfg: HandConfig) -> None:
    opt = spec.option
    opt.timestep = cfg.timestep
    opt.integrator = getattr(mujoco.mjtIntegrator, f"mjINT_{cfg.integrator.upper()}")
    opt.cone = getattr(mujoco.mjtCone, f"mjCONE_{cfg.cone.upper()}")
    opt.impratio = cfg.impratio
    opt.iterations = cfg.iterations
    opt.ls_iterations = cfg.ls_iterations
    opt.noslip_iterations = cfg.noslip_iterations


def hand_spec(cfg: HandConfig | None = None, wrist="palm_up", mocap_mount: bool = False) -> mujoco.MjSpec:
    """A scene with only the hand (and light), ready to compile or to extend with objects."""
    cfg = cfg or HandConfig.load()
    spec = mujoco.MjSpec()
    spec.modelname = "leap_hand"
    spec.compiler.degree = False   # every angle in this project is in radians
    configure_options(spec, cfg)
    spec.worldbody.add_light(pos=[0, 0, 1.5], dir=[0, 0, -1])
    add_hand(spec, cfg, wrist, mocap_mount=mocap_mount)
    return spec


def joint_qpos_addr(model: mujoco.MjModel) -> np.ndarray:
    """qpos addresses of the 16 hand joints in MJ order."""
    return np.array([model.jnt_qposadr[model.joint(n).id] for n in joint_order.JOINT_NAMES])


def joint_dof_addr(model: mujoco.MjModel) -> np.ndarray:
    return np.array([model.jnt_dofadr[model.joint(n).id] for n in joint_order.JOINT_NAMES])

