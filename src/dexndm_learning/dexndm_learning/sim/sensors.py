"""MuJoCo sensors that let the batched environment read everything it needs from ``rollout``.

``mujoco.rollout`` returns only states and sensor data, so every observation and reward input
that is not in the state (object and fingertip frames and velocities, link contact forces,
applied torques) is a sensor. Touch sites copy each hand collision geom, slightly inflated.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.sim.hand_model import FINGERTIP_BODIES

TOUCH_BODIES = ("palm",) + tuple(f"{f}_{p}" for f in ("if", "mf", "rf") for p in ("bs", "px", "md", "ds")) + (
    "th_mp", "th_bs", "th_px", "th_ds")
_SITE_TYPE = {
    int(mujoco.mjtGeom.mjGEOM_BOX): mujoco.mjtGeom.mjGEOM_BOX,
    int(mujoco.mjtGeom.mjGEOM_CAPSULE): mujoco.mjtGeom.mjGEOM_CAPSULE,
}


@dataclass(frozen=True)
class SensorLayout:
    """Slices of the sensordata vector."""

    obj_pos: slice
    obj_quat: slice
    obj_linvel: slice
    obj_angvel: slice
    tip_pos: slice
    tip_quat: slice
    tip_linvel: slice
    tip_angvel: slice
    touch: slice
    torque: slice
    size: int


def add_rotation_sensors(spec: mujoco.MjSpec, object_body: str = "object") -> None:
    """Add the sensors of ``SensorLayout`` (order matters) to a spec with hand + object."""
    S, Obj = mujoco.mjtSensor, mujoco.mjtObj
    # Touch sites need the geoms' compiled frames: compile once, copy the shapes.
    model = spec.compile()
    for body_name in TOUCH_BODIES:
        body = spec.body(body_name)
        bid = model.body(body_name).id
        for g in range(model.ngeom):
            if model.geom_bodyid[g] != bid or model.geom_contype[g] == 0:
                continue
            size = model.geom_size[g].copy()
            if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE:
                size[0] += 0.002
            else:
                size += 0.002
            body.add_site(name=f"touch_{body_name}", type=_SITE_TYPE[int(model.geom_type[g])], size=list(size),
                          pos=list(model.geom_pos[g]), quat=list(model.geom_quat[g]))
            break
    for t in (S.mjSENS_FRAMEPOS, S.mjSENS_FRAMEQUAT, S.mjSENS_FRAMELINVEL, S.mjSENS_FRAMEANGVEL):
        spec.add_sensor(type=t, objtype=Obj.mjOBJ_BODY, objname=object_body)
    for t in (S.mjSENS_FRAMEPOS, S.mjSENS_FRAMEQUAT, S.mjSENS_FRAMELINVEL, S.mjSENS_FRAMEANGVEL):
        for b in FINGERTIP_BODIES:
            spec.add_sensor(type=t, objtype=Obj.mjOBJ_SITE, objname=f"{b}_tip")
    for body_name in TOUCH_BODIES:
        spec.add_sensor(type=S.mjSENS_TOUCH, objtype=Obj.mjOBJ_SITE, objname=f"touch_{body_name}")
    for j in joint_order.JOINT_NAMES:
        spec.add_sensor(type=S.mjSENS_ACTUATORFRC, objtype=Obj.mjOBJ_ACTUATOR, objname=j)


def sensor_layout() -> SensorLayout:
    sizes = [("obj_pos", 3), ("obj_quat", 4), ("obj_linvel", 3), ("obj_angvel", 3),
             ("tip_pos", 12), ("tip_quat", 16), ("tip_linvel", 12), ("tip_angvel", 12),
             ("touch", len(TOUCH_BODIES)), ("torque", joint_order.NUM_JOINTS)]
    out, i = {}, 0
    for name, n in sizes:
        out[name] = slice(i, i + n)
        i += n
    return SensorLayout(**out, size=i)


def check_layout(model: mujoco.MjModel) -> None:
    if model.nsensordata != sensor_layout().size:
        raise RuntimeError(f"model has {model.nsensordata} sensor values, layout expects {sensor_layout().size}")


def split(sensordata: np.ndarray, layout: SensorLayout) -> dict[str, np.ndarray]:
    return {f: sensordata[..., getattr(layout, f)] for f in layout.__dataclass_fields__ if f != "size"}
