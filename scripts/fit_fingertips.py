"""Fit the v2 fingertip pads (a box and an ellipsoid per tip) to Menagerie's fingertip meshes.

    .venv/bin/python scripts/fit_fingertips.py        # about 1 minute; prints the shapes for hand_model._DISTAL_V2

Objective (Nelder-Mead): the largest distance from a sampled mesh point to our surface, plus half
the 99th percentile of our surface's distance to the mesh (no bulges), plus a penalty once the
tip end (``hand_reference.tip_end``) is more than 1.2 mm from the mesh's.
"""
from __future__ import annotations

import mujoco
import numpy as np
from scipy.optimize import minimize

from dexndm_learning.sim import hand_reference as ref

# start: the first fit's box (x, y, z lows then highs) and ellipsoid (centre, radii)
START = {"if_ds": [-0.0106, -0.0403, 0.0023, 0.0078, -0.02, 0.0257, -0.003, -0.0413, 0.0144, 0.0105, 0.0098, 0.0131],
         "th_ds": [-0.0109, -0.0528, -0.0249, 0.0083, -0.0313, -0.0025, -0.003, -0.0534, -0.0146, 0.0105, 0.0099, 0.013]}


def pad_model(x: np.ndarray) -> mujoco.MjModel:
    lo, hi = np.minimum(x[0:3], x[3:6]), np.maximum(x[0:3], x[3:6])
    spec = mujoco.MjSpec()
    body = spec.worldbody.add_body(name="tip")
    body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, pos=list((lo + hi) / 2), size=list((hi - lo) / 2 + 1e-5))
    body.add_geom(type=mujoco.mjtGeom.mjGEOM_ELLIPSOID, pos=list(x[6:9]), size=list(np.abs(x[9:12]) + 1e-4))
    return spec.compile()


def fit(body: str, path) -> np.ndarray:
    points = ref.tip_mesh_points(path, body)
    dense = ref.tip_mesh_points(path, body, 40000, seed=1)
    end = ref.tip_end(dense)

    def cost(x, report=False):
        surface = ref.body_surface_points(pad_model(x), "tip", spacing=0.0007)
        d_in = ref.distance_to_surface(points, surface)
        d_out = ref.distance_to_surface(surface, dense)
        d_end = np.linalg.norm(ref.tip_end(surface) - end)
        if report:
            print(f"{body}: mesh -> ours max {d_in.max() * 1e3:.2f} mm, ours -> mesh p99 "
                  f"{np.percentile(d_out, 99) * 1e3:.2f} mm, tip end {d_end * 1e3:.2f} mm")
        return d_in.max() + 0.5 * np.percentile(d_out, 99) + 5 * max(0.0, d_end - 0.0012)

    res = minimize(cost, np.array(START[body]), method="Nelder-Mead",
                   options=dict(maxiter=3000, xatol=1e-5, fatol=1e-6))
    cost(res.x, report=True)
    return res.x


def main() -> None:
    path = ref.reference_dir()
    if path is None:
        raise SystemExit("fit_fingertips: Menagerie's LEAP Hand not found (set DEXNDM_HAND_REFERENCE)")
    for body in START:
        x = fit(body, path)
        lo, hi = np.minimum(x[0:3], x[3:6]), np.maximum(x[0:3], x[3:6])
        fmt = lambda v, digits: "(" + ", ".join(f"{c:.{digits}f}" for c in v) + ")"   # noqa: E731
        print(f'  ("box", {fmt((lo + hi) / 2, 5)}, {fmt((hi - lo) / 2, 5)}),')
        print(f'  ("ellipsoid", {fmt(x[6:9], 4)}, {fmt(np.abs(x[9:12]), 4)}),')


if __name__ == "__main__":
    main()
