"""Object sets: determinism, counts, the paper's ranges, and physics with the hand."""
import mujoco
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dexndm_learning import joint_order
from dexndm_learning.sim.hand_model import HandConfig, hand_spec, joint_qpos_addr
from dexndm_learning.sim.objects import (COMPLEX_TEMPLATES, FRICTION_RANGE, MASS_RANGE, MAX_GEOMS, PAPER_TABLE,
                                         SET_NAMES, TEST_TEMPLATES, TRAINING_SETS, add_object, load_mesh_object,
                                         object_set)
from dexndm_learning.sim.wrist import to_wxyz

ALL = {name: object_set(name) for name in SET_NAMES}


def _scaled(category):
    """(smallest, largest) of the table's min extent x scale."""
    t = PAPER_TABLE[category]
    return t.min_extent[0] * t.scale[0], t.min_extent[1] * t.scale[1]


def test_same_seed_same_objects_other_seed_differs():
    for name in SET_NAMES:
        assert object_set(name, seed=0) == ALL[name]
        assert object_set(name, seed=1) != ALL[name]


def test_unknown_set_lists_valid_names():
    with pytest.raises(ValueError) as err:
        object_set("cylinders")
    for name in SET_NAMES:
        assert name in str(err.value)


def test_counts_and_held_out_test_set():
    counts = {name: len(objs) for name, objs in ALL.items()}
    assert counts["normal_cylinders"] == 9 and counts["normal_cuboids"] == 9
    assert counts["long_cuboids"] == 4 and counts["small_cylinders"] == 9
    assert counts["complex"] == 120 and counts["test"] == 31
    distinct_complex = {o.parts for o in ALL["complex"]}
    assert len(distinct_complex) == 120
    training_names = {o.name for name in TRAINING_SETS for o in ALL[name]}
    test_names = {o.name for o in ALL["test"]}
    assert len(training_names) == sum(counts[n] for n in TRAINING_SETS)   # unique names
    assert not training_names & test_names
    assert not set(COMPLEX_TEMPLATES) & set(TEST_TEMPLATES)
    assert any(len(o.parts) > 1 for o in ALL["test"])


def test_every_object_small_centred_and_in_mass_friction_ranges():
    for objs in ALL.values():
        for o in objs:
            assert 1 <= len(o.parts) <= MAX_GEOMS
            assert MASS_RANGE[0] <= o.mass <= MASS_RANGE[1]
            assert FRICTION_RANGE[0] <= o.friction <= FRICTION_RANGE[1]
            lo = np.min([p.aabb()[0] for p in o.parts], axis=0)
            hi = np.max([p.aabb()[1] for p in o.parts], axis=0)
            np.testing.assert_allclose(hi, o.half_extents, atol=1e-9)
            np.testing.assert_allclose(lo, -np.array(o.half_extents), atol=1e-9)


def test_cylinders_follow_the_paper_table():
    # Our reading: min extent = unscaled radius, aspect ratio = length / radius (Hora's generator).
    for category in ("normal_cylinders", "small_cylinders"):
        t = PAPER_TABLE[category]
        ratios = []
        for o in ALL[category]:
            (part,) = o.parts
            radius, half_length = part.size
            lo, hi = _scaled(category)
            assert lo - 1e-12 <= radius <= hi + 1e-12
            ratios.append(2 * half_length / radius)
        assert min(ratios) == pytest.approx(t.aspect[0]) and max(ratios) == pytest.approx(t.aspect[1])
    small_diameters = [2 * o.parts[0].size[0] for o in ALL["small_cylinders"]]
    assert 0.025 <= min(small_diameters) and max(small_diameters) <= 0.030


def test_cuboids_follow_the_paper_table():
    for category in ("normal_cuboids", "long_cuboids"):
        t = PAPER_TABLE[category]
        ars = [o.aspect_ratio for o in ALL[category]]
        assert min(ars) == pytest.approx(t.aspect[0]) and max(ars) == pytest.approx(t.aspect[1])
        lo, hi = _scaled(category)
        assert all(lo - 1e-12 <= o.min_extent <= hi + 1e-12 for o in ALL[category])
    assert max(o.aspect_ratio for o in ALL["long_cuboids"]) == pytest.approx(6.67)


def test_complex_and_test_sets_follow_the_paper_table():
    t = PAPER_TABLE["complex"]
    lo, hi = _scaled("complex")
    for o in ALL["complex"]:
        assert len(o.parts) >= 2   # compounds: non-convex
        assert t.aspect[0] - 1e-9 <= o.aspect_ratio <= t.aspect[1] + 1e-9
        assert lo - 1e-9 <= o.min_extent <= hi + 1e-9
    names = " ".join(o.name for o in ALL["complex"])
    assert all(animal in names for animal in ("duck", "bunny", "elephant"))
    ars = [o.aspect_ratio for o in ALL["test"]]
    assert min(ars) < 1.05 and 10.0 < max(ars) < 11.67
    lo, hi = _scaled("test")
    assert all(lo <= o.min_extent <= hi for o in ALL["test"])


def test_add_object_masses_and_contact_settings():
    pyramid = next(o for o in ALL["test"] if o.name == "test_pyramid")   # a mesh part
    for obj in (pyramid, ALL["complex"][0]):
        spec = hand_spec(HandConfig())
        add_object(spec, obj, pos=(0, 0, 1))
        model = spec.compile()
        body = model.body("object")
        assert model.body_mass[body.id] == pytest.approx(obj.mass)
        geoms = np.flatnonzero(model.geom_bodyid == body.id)
        assert len(geoms) == len(obj.parts)
        assert np.all(model.geom_friction[geoms, 0] == pytest.approx(obj.friction))
        assert np.all(model.geom_condim[geoms] == 4) and np.all(model.geom_priority[geoms] == 1)
        assert model.jnt_type[model.joint("object_free").id] == mujoco.mjtJoint.mjJNT_FREE


def _rest_quat(obj):
    """Lay the object with its smallest extent vertical and its longest across the palm."""
    order = np.argsort(obj.half_extents)
    rot = np.zeros((3, 3))
    rot[2, order[0]] = rot[1, order[2]] = rot[0, order[1]] = 1.0
    if np.linalg.det(rot) < 0:
        rot[0] *= -1
    return to_wxyz(Rotation.from_matrix(rot))


def test_every_object_dropped_on_the_palm_comes_to_rest():
    cfg = HandConfig()
    mount = np.array(cfg.mount_pos)
    finger = [0.4, 0.0, 0.5, 0.4]
    cup = np.array(finger * 3 + [0.5, 0.5, 0.3, 0.2])          # palm up, fingers curled a little
    palm_centre = mount + [-0.047, 0.037, 0.0345]
    on_hand, total = 0, 0
    for objs in ALL.values():
        for obj in objs:
            spec = hand_spec(cfg, "palm_up")
            # The forearm behind the wrist, and a tray below the hand that catches what rolls off.
            spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.01, 0.07, 0.05],
                                    pos=list(mount + [-0.105, 0.04, 0.04]))
            spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.4, 0.4, 0.01],
                                    pos=list(mount - [0, 0, 0.2]))
            add_object(spec, obj, pos=palm_centre + [0, 0, min(obj.half_extents) + 0.005], quat=_rest_quat(obj))
            model = spec.compile()
            data = mujoco.MjData(model)
            data.qpos[joint_qpos_addr(model)] = cup
            data.ctrl[:joint_order.NUM_JOINTS] = cup
            mujoco.mj_step(model, data, nstep=360)   # 3 s
            body = model.body("object").id
            assert np.all(np.isfinite(data.qpos)), obj.name
            assert np.linalg.norm(data.cvel[body, 3:]) < 0.1, obj.name   # ellipsoid bodies may rock gently
            total += 1
            on_hand += data.xpos[body, 2] > mount[2]
    assert on_hand >= 0.95 * total


def _l_prism_obj(path):
    """An L-shaped prism (8 x 7 x 3 cm), non-convex, written as OBJ."""
    poly = np.array([(0, 0), (.08, 0), (.08, .02), (.02, .02), (.02, .07), (0, .07)])
    n = len(poly)
    tris = [(0, 1, 2), (0, 2, 3), (0, 3, 4), (0, 4, 5)]
    verts = np.vstack([np.c_[poly, np.zeros(n)], np.c_[poly, np.full(n, 0.03)]])
    faces = [(c, b, a) for a, b, c in tris] + [(a + n, b + n, c + n) for a, b, c in tris]
    for i in range(n):
        j = (i + 1) % n
        faces += [(i, j, j + n), (i, j + n, i + n)]
    lines = [f"v {x} {y} {z}" for x, y, z in verts] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def test_mesh_drop_in_decomposes_into_hulls(tmp_path):
    path = tmp_path / "l_prism.obj"
    _l_prism_obj(path)
    obj = load_mesh_object(path, mass=0.04, friction=0.8)
    assert obj.name == "l_prism" and len(obj.parts) > 1
    assert all(p.type == "mesh" for p in obj.parts)
    np.testing.assert_allclose(np.array(obj.half_extents) * 2, [0.08, 0.07, 0.03], atol=2e-3)
    spec = hand_spec(HandConfig())
    add_object(spec, obj, pos=(0, 0, 1))
    model = spec.compile()
    assert model.body_mass[model.body("object").id] == pytest.approx(0.04)
    assert model.nmesh == len(obj.parts)
