"""The URDF generated from the MuJoCo hand (sim.urdf): committed copies are current, and two
independent URDF readers (yourdfpy, MuJoCo's importer) put every fingertip where the MuJoCo hand
does, within 1 mm, over 50 random joint configurations."""

import mujoco
import numpy as np
import pytest
import yourdfpy

from dexndm_learning import joint_order as jo
from dexndm_learning.config import repo_root
from dexndm_learning.sim.hand_model import HandConfig, hand_spec, joint_qpos_addr
from dexndm_learning.sim.urdf import hand_urdf

TIPS = ("if_ds_tip", "mf_ds_tip", "rf_ds_tip", "th_ds_tip")


def tips_in_mount(model, data, q, names=TIPS):
    """Fingertip positions in the mount frame (hand frame H) of a MuJoCo model at joints ``q``."""
    adr = [model.jnt_qposadr[model.joint(n).id] for n in jo.JOINT_NAMES]
    data.qpos[adr] = q
    mujoco.mj_kinematics(model, data)
    mount = model.body("mount").id
    rot, origin = data.xmat[mount].reshape(3, 3), data.xpos[mount]
    where = {}
    for n in names:
        sid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, n)
        pos = data.site_xpos[sid] if sid >= 0 else data.xpos[model.body(n).id]
        where[n] = rot.T @ (pos - origin)
    return where


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_urdf_fingertips_match_the_mujoco_hand(tmp_path, version):
    cfg = HandConfig.load("hand", {"version": version})
    text = hand_urdf(cfg)
    path = tmp_path / "hand.urdf"
    path.write_text(text)
    urdf = yourdfpy.URDF.load(str(path), load_meshes=False)
    assert sorted(urdf.actuated_joint_names) == sorted(jo.JOINT_NAMES)
    for name in jo.JOINT_NAMES:
        limit, i = urdf.joint_map[name].limit, jo.JOINT_NAMES.index(name)
        assert (limit.lower, limit.upper) == pytest.approx((jo.LOWER[i], jo.UPPER[i]))
    model = hand_spec(cfg, wrist="palm_up").compile()
    imported = mujoco.MjModel.from_xml_string(text)           # MuJoCo's own URDF importer
    data, idata = mujoco.MjData(model), mujoco.MjData(imported)
    assert joint_qpos_addr(model).size == 16
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(50):
        q = rng.uniform(jo.LOWER, jo.UPPER)
        ours = tips_in_mount(model, data, q)
        urdf.update_cfg(dict(zip(jo.JOINT_NAMES, q)))
        from_mujoco_import = tips_in_mount(imported, idata, q)
        for n in TIPS:
            by_yourdfpy = urdf.get_transform(frame_to=n, frame_from="mount")[:3, 3]
            worst = max(worst, np.linalg.norm(by_yourdfpy - ours[n]), np.linalg.norm(from_mujoco_import[n] - ours[n]))
    assert worst < 1e-3, f"{worst * 1000:.3f} mm"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_committed_urdf_is_current(version):
    root = repo_root()
    if root is None:
        pytest.skip("needs the checkout's models/")
    committed = (root / "models" / "urdf" / f"leap_hand_{version}.urdf").read_text()
    assert committed == hand_urdf(HandConfig.load("hand", {"version": version})), (
        f"regenerate: python -m dexndm_learning.sim.urdf --out models/urdf/leap_hand_{version}.urdf --version {version}")
